package bridge

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

const maxLine = 16 << 20

// session is one MCP session: one child process and the routing of its messages.
type session struct {
	id       string
	cmd      *exec.Cmd
	stdin    io.WriteCloser
	done     chan struct{} // closed when the child has exited
	outbound chan []byte   // the child's requests and notifications, for the GET stream

	writeMu sync.Mutex
	mu      sync.Mutex
	pending map[string]chan []byte // by the JSON text of the request id

	// legacy sessions speak the HTTP+SSE transport: every message of the child, responses
	// included, goes to the one stream, which the session cannot outlive.
	legacy bool
	quit   chan struct{} // closed by stop

	lastUsed atomic.Int64 // unix nanoseconds
	streams  atomic.Int32
	stopOnce sync.Once
}

func startSession(id string, opts Options, now time.Time, legacy bool) (*session, error) {
	cmd := exec.Command(opts.Command[0], opts.Command[1:]...)
	cmd.Env = opts.Env
	cmd.Stderr = opts.Stderr
	// Its own process group, so that ending the session ends whatever the server started.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("stdin pipe: %w", err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("stdout pipe: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start the server command: %w", err)
	}
	s := &session{
		id: id, cmd: cmd, stdin: stdin,
		done:     make(chan struct{}),
		quit:     make(chan struct{}),
		outbound: make(chan []byte, 256),
		pending:  map[string]chan []byte{},
		legacy:   legacy,
	}
	s.touch(now)
	go s.readLoop(stdout)
	return s, nil
}

// readLoop routes each line the child writes: responses to their waiting request, everything else
// to the session's stream. It ends when the child closes stdout, then reaps the child.
func (s *session) readLoop(stdout io.Reader) {
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 64<<10), maxLine)
	for sc.Scan() {
		line := append([]byte(nil), sc.Bytes()...)
		var m message
		if json.Unmarshal(line, &m) != nil {
			continue // not JSON-RPC: a server that logs to stdout
		}
		if s.legacy {
			select {
			case s.outbound <- line:
			case <-s.quit:
			}
			continue
		}
		if m.Method == "" && len(m.ID) > 0 {
			s.deliver(string(m.ID), line)
			continue
		}
		select {
		case s.outbound <- line:
		default: // no stream is draining: drop rather than block the child
		}
	}
	_ = s.cmd.Wait()
	close(s.done)
}

func (s *session) deliver(id string, line []byte) {
	s.mu.Lock()
	ch := s.pending[id]
	delete(s.pending, id)
	s.mu.Unlock()
	if ch != nil {
		ch <- line
	}
}

// send writes one message to the child.
func (s *session) send(line []byte) error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	select {
	case <-s.done:
		return errors.New("the server process has exited")
	default:
	}
	if _, err := s.stdin.Write(append(line, '\n')); err != nil {
		return fmt.Errorf("write to the server process: %w", err)
	}
	return nil
}

// call sends a request and waits for its response. If the client goes away first, the child is
// told the request was cancelled.
func (s *session) call(ctx context.Context, id json.RawMessage, line []byte) ([]byte, error) {
	ch := make(chan []byte, 1)
	key := string(id)
	s.mu.Lock()
	if _, dup := s.pending[key]; dup {
		s.mu.Unlock()
		return nil, errors.New("a request with this id is already in flight")
	}
	s.pending[key] = ch
	s.mu.Unlock()
	if err := s.send(line); err != nil {
		s.forget(key)
		return nil, err
	}
	select {
	case resp := <-ch:
		return resp, nil
	case <-s.done:
		return nil, errors.New("the server process exited before answering")
	case <-ctx.Done():
		s.forget(key)
		cancel, _ := json.Marshal(map[string]any{
			"jsonrpc": "2.0", "method": "notifications/cancelled",
			"params": map[string]any{"requestId": id, "reason": "the client went away"},
		})
		_ = s.send(cancel)
		return nil, fmt.Errorf("request cancelled: %w", ctx.Err())
	}
}

func (s *session) forget(key string) {
	s.mu.Lock()
	delete(s.pending, key)
	s.mu.Unlock()
}

func (s *session) touch(now time.Time) { s.lastUsed.Store(now.UnixNano()) }

func (s *session) openStream() bool { return s.streams.CompareAndSwap(0, 1) }

func (s *session) closeStream(now time.Time) {
	s.streams.Store(0)
	s.touch(now)
}

// idleSince reports whether the session has had no request and no open stream since cutoff.
func (s *session) idleSince(cutoff time.Time) bool {
	return s.streams.Load() == 0 && s.lastUsed.Load() < cutoff.UnixNano()
}

// stop closes the child's stdin (the MCP way to end a stdio server), then kills its process group
// if it has not exited within two seconds.
func (s *session) stop() {
	s.stopOnce.Do(func() {
		close(s.quit)
		s.writeMu.Lock()
		_ = s.stdin.Close()
		s.writeMu.Unlock()
		select {
		case <-s.done:
		case <-time.After(2 * time.Second):
			_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
			<-s.done
		}
	})
}
