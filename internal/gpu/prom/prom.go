package prom

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// ErrNotAllowed is returned for a metric or label outside the allow-list.
var ErrNotAllowed = errors.New("not allowed")

// AllowedPrefixes are the metric families that may be queried: DCGM exporter and HAMi.
var AllowedPrefixes = []string{"DCGM_FI_", "hami_"}

// AllowedMetrics are individual metrics outside those families that may be queried.
var AllowedMetrics = []string{"nvidia_gpu_duty_cycle", "kube_pod_container_resource_requests", "kube_node_status_allocatable"}

var (
	metricName = regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*$`)
	labelName  = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)
	labelValue = regexp.MustCompile(`^[a-zA-Z0-9_.:/\-]{0,253}$`)
)

// Query is a metric query built from validated parts, never from caller-written PromQL.
type Query struct {
	// Metric is the metric name.
	Metric string
	// Labels are exact-match label filters.
	Labels map[string]string
	// Start, End and Step make a range query when Start is non-zero.
	Start, End time.Time
	// Step is the range query resolution.
	Step time.Duration
}

// Sample is one value of a series.
type Sample struct {
	// Time is the sample time.
	Time time.Time `json:"time" jsonschema:"sample time"`
	// Value is the sample value.
	Value float64 `json:"value" jsonschema:"sample value"`
}

// Series is one labelled time series.
type Series struct {
	// Labels are the series labels.
	Labels map[string]string `json:"labels" jsonschema:"series labels"`
	// Samples are the values, one for an instant query.
	Samples []Sample `json:"samples" jsonschema:"values"`
}

// Client queries one Prometheus server.
type Client struct {
	// BaseURL is the Prometheus server, such as http://prometheus:9090.
	BaseURL string
	// HTTP sends requests.
	HTTP *http.Client
}

// Allowed reports whether a metric may be queried.
func Allowed(metric string) bool {
	for _, p := range AllowedPrefixes {
		if strings.HasPrefix(metric, p) {
			return true
		}
	}
	for _, m := range AllowedMetrics {
		if m == metric {
			return true
		}
	}
	return false
}

// PromQL validates q and renders it as a selector.
func (q Query) PromQL() (string, error) {
	if !metricName.MatchString(q.Metric) || !Allowed(q.Metric) {
		return "", fmt.Errorf("metric %q: %w (allowed: prefixes %v and %v)", q.Metric, ErrNotAllowed, AllowedPrefixes, AllowedMetrics)
	}
	keys := make([]string, 0, len(q.Labels))
	for k, v := range q.Labels {
		if !labelName.MatchString(k) {
			return "", fmt.Errorf("label name %q: %w", k, ErrNotAllowed)
		}
		if !labelValue.MatchString(v) {
			return "", fmt.Errorf("label %s value %q: %w (letters, digits and _.:/- only)", k, v, ErrNotAllowed)
		}
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s=%q", k, q.Labels[k]))
	}
	return q.Metric + "{" + strings.Join(parts, ",") + "}", nil
}

type apiResponse struct {
	Status    string `json:"status"`
	ErrorType string `json:"errorType"`
	Error     string `json:"error"`
	Data      struct {
		ResultType string `json:"resultType"`
		Result     []struct {
			Metric map[string]string `json:"metric"`
			Value  []any             `json:"value"`
			Values [][]any           `json:"values"`
		} `json:"result"`
	} `json:"data"`
}

// Do runs q as an instant or range query.
func (c *Client) Do(ctx context.Context, q Query) ([]Series, error) {
	req, err := c.request(ctx, q)
	if err != nil {
		return nil, err
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("query prometheus: %w", err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return nil, fmt.Errorf("read prometheus answer: %w", err)
	}
	return decode(resp.StatusCode, body)
}

func (c *Client) request(ctx context.Context, q Query) (*http.Request, error) {
	expr, err := q.PromQL()
	if err != nil {
		return nil, err
	}
	v := url.Values{"query": {expr}}
	path := "/api/v1/query"
	if !q.Start.IsZero() {
		if q.End.IsZero() || !q.End.After(q.Start) || q.Step <= 0 {
			return nil, fmt.Errorf("range query needs end after start and a positive step")
		}
		if q.End.Sub(q.Start)/q.Step > 11000 {
			return nil, fmt.Errorf("range query asks for more than 11000 points per series; raise the step")
		}
		path = "/api/v1/query_range"
		v.Set("start", strconv.FormatInt(q.Start.Unix(), 10))
		v.Set("end", strconv.FormatInt(q.End.Unix(), 10))
		v.Set("step", strconv.FormatFloat(q.Step.Seconds(), 'f', -1, 64))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(c.BaseURL, "/")+path+"?"+v.Encode(), nil)
	if err != nil {
		return nil, fmt.Errorf("build prometheus request: %w", err)
	}
	return req, nil
}

func decode(code int, body []byte) ([]Series, error) {
	var ar apiResponse
	if err := json.Unmarshal(body, &ar); err != nil {
		return nil, fmt.Errorf("prometheus answered HTTP %d with a body that is not its API: %w", code, err)
	}
	if ar.Status != "success" {
		return nil, fmt.Errorf("prometheus: %s: %s", ar.ErrorType, ar.Error)
	}
	out := []Series{}
	for _, r := range ar.Data.Result {
		s := Series{Labels: r.Metric, Samples: []Sample{}}
		pairs := r.Values
		if r.Value != nil {
			pairs = [][]any{r.Value}
		}
		for _, p := range pairs {
			sm, err := sample(p)
			if err != nil {
				return nil, err
			}
			s.Samples = append(s.Samples, sm)
		}
		out = append(out, s)
	}
	return out, nil
}

func sample(p []any) (Sample, error) {
	if len(p) != 2 {
		return Sample{}, fmt.Errorf("prometheus sample has %d fields, want 2", len(p))
	}
	ts, ok := p[0].(float64)
	vs, ok2 := p[1].(string)
	if !ok || !ok2 {
		return Sample{}, fmt.Errorf("prometheus sample %v is not [time, \"value\"]", p)
	}
	v, err := strconv.ParseFloat(vs, 64)
	if err != nil {
		return Sample{}, fmt.Errorf("prometheus value %q: %w", vs, err)
	}
	sec := int64(ts)
	return Sample{Time: time.Unix(sec, int64((ts-float64(sec))*1e9)).UTC(), Value: v}, nil
}
