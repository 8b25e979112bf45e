package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/toolmesh/toolmesh/internal/gpu"
)

// API paths served by the agent.
const (
	PathInventory = "/v1/inventory"
	PathTelemetry = "/v1/telemetry"
	PathTopology  = "/v1/topology"
	PathECC       = "/v1/ecc"
	PathProcesses = "/v1/processes"
	PathXIDs      = "/v1/xids"
	PathHealth    = "/v1/health"
	PathKill      = "/v1/actions/kill-process"
	PathReset     = "/v1/actions/reset-gpu"
)

// KillRequest asks the agent to kill a GPU process.
type KillRequest struct {
	// PID is the process to kill.
	PID int `json:"pid"`
	// Reason is recorded in the agent's audit log.
	Reason string `json:"reason"`
}

// ResetRequest asks the agent to reset a GPU.
type ResetRequest struct {
	// UUID is the GPU to reset.
	UUID string `json:"uuid"`
	// Reason is recorded in the agent's audit log.
	Reason string `json:"reason"`
}

// ActionResult reports an operator action.
type ActionResult struct {
	// Done is true when the action was carried out.
	Done bool `json:"done"`
	// Message describes what happened.
	Message string `json:"message"`
}

type errorBody struct {
	Error string `json:"error"`
}

// HandlerOptions configures the agent's HTTP handler.
type HandlerOptions struct {
	// Auth checks callers; required.
	Auth Authenticator
	// Operator enables the action endpoints.
	Operator bool
	// Log receives access and audit records; tokens are never logged.
	Log *slog.Logger
}

// NewHandler serves the agent API over svc.
func NewHandler(svc *Service, opts HandlerOptions) http.Handler {
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	mux := http.NewServeMux()
	get := func(path string, fn func(r *http.Request) (any, error)) {
		mux.HandleFunc("GET "+path, func(w http.ResponseWriter, r *http.Request) {
			v, err := fn(r)
			write(w, v, err)
		})
	}
	get(PathInventory, func(r *http.Request) (any, error) { return svc.Inventory(r.Context()) })
	get(PathTelemetry, func(r *http.Request) (any, error) { return svc.Telemetry(r.Context()) })
	get(PathTopology, func(r *http.Request) (any, error) { return svc.Topology(r.Context()) })
	get(PathECC, func(r *http.Request) (any, error) { return svc.ECC(r.Context()) })
	get(PathProcesses, func(r *http.Request) (any, error) { return svc.Processes(r.Context()) })
	get(PathHealth, func(r *http.Request) (any, error) { return svc.Health(r.Context()) })
	get(PathXIDs, func(r *http.Request) (any, error) {
		f := gpu.XIDFilter{GPU: r.URL.Query().Get("gpu")}
		if s := r.URL.Query().Get("since"); s != "" {
			t, err := time.Parse(time.RFC3339, s)
			if err != nil {
				return nil, badRequest{fmt.Errorf("since must be RFC 3339: %w", err)}
			}
			f.Since = t
		}
		return svc.XIDs(r.Context(), f)
	})
	if opts.Operator {
		mux.HandleFunc("POST "+PathKill, func(w http.ResponseWriter, r *http.Request) {
			var req KillRequest
			if err := decode(r, &req); err != nil {
				write(w, nil, err)
				return
			}
			log.Info("Audit: kill GPU process", "caller", caller(r), "pid", req.PID, "reason", req.Reason)
			err := svc.KillProcess(r.Context(), req.PID)
			write(w, ActionResult{Done: err == nil, Message: fmt.Sprintf("killed pid %d", req.PID)}, err)
		})
		mux.HandleFunc("POST "+PathReset, func(w http.ResponseWriter, r *http.Request) {
			var req ResetRequest
			if err := decode(r, &req); err != nil {
				write(w, nil, err)
				return
			}
			log.Info("Audit: reset GPU", "caller", caller(r), "gpu", req.UUID, "reason", req.Reason)
			err := svc.ResetGPU(r.Context(), req.UUID)
			write(w, ActionResult{Done: err == nil, Message: "reset GPU " + req.UUID}, err)
		})
	}
	return authenticate(opts.Auth, log, mux)
}

type callerKey struct{}

func caller(r *http.Request) string {
	s, _ := r.Context().Value(callerKey{}).(string)
	return s
}

func authenticate(a Authenticator, log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" {
			w.WriteHeader(http.StatusOK)
			return
		}
		token, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if a == nil {
			write(w, nil, fmt.Errorf("%w: no authenticator configured", ErrUnauthenticated))
			return
		}
		user, err := a.Authenticate(r.Context(), strings.TrimSpace(token))
		if err != nil {
			log.Info("Rejected agent call", "path", r.URL.Path, "user", user, "reason", err.Error())
			write(w, nil, err)
			return
		}
		next.ServeHTTP(w, r.WithContext(contextWith(r, user)))
	})
}

type badRequest struct{ error }

func (b badRequest) Unwrap() error { return b.error }

func decode(r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(nil, r.Body, 1<<16))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return badRequest{fmt.Errorf("decode request: %w", err)}
	}
	return nil
}

func status(err error) int {
	var br badRequest
	switch {
	case errors.As(err, &br):
		return http.StatusBadRequest
	case errors.Is(err, ErrUnauthenticated):
		return http.StatusUnauthorized
	case errors.Is(err, ErrForbidden):
		return http.StatusForbidden
	case errors.Is(err, gpu.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, gpu.ErrBusy):
		return http.StatusConflict
	case errors.Is(err, gpu.ErrNoDriver):
		return http.StatusServiceUnavailable
	default:
		return http.StatusInternalServerError
	}
}

func write(w http.ResponseWriter, v any, err error) {
	w.Header().Set("Content-Type", "application/json")
	if err != nil {
		w.WriteHeader(status(err))
		_ = json.NewEncoder(w).Encode(errorBody{Error: err.Error()})
		return
	}
	_ = json.NewEncoder(w).Encode(v)
}

// StatusError is an error an agent answered with.
type StatusError struct {
	// Code is the HTTP status.
	Code int
	// Message is the agent's error text.
	Message string
}

func (e *StatusError) Error() string { return fmt.Sprintf("%s (HTTP %d)", e.Message, e.Code) }
