package prom

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestPromQLValidation(t *testing.T) {
	tests := []struct {
		name    string
		q       Query
		want    string
		wantErr bool
	}{
		{"dcgm with labels", Query{Metric: "DCGM_FI_DEV_GPU_TEMP", Labels: map[string]string{"gpu": "0", "Hostname": "node-a"}}, `DCGM_FI_DEV_GPU_TEMP{Hostname="node-a",gpu="0"}`, false},
		{"hami", Query{Metric: "hami_vgpu_memory_used"}, `hami_vgpu_memory_used{}`, false},
		{"not on the list", Query{Metric: "node_cpu_seconds_total"}, "", true},
		{"promql injection in metric", Query{Metric: `DCGM_FI_DEV_GPU_TEMP or vector(1)`}, "", true},
		{"quote in label value", Query{Metric: "DCGM_FI_DEV_GPU_TEMP", Labels: map[string]string{"gpu": `0"} or up{x="`}}, "", true},
		{"bad label name", Query{Metric: "DCGM_FI_DEV_GPU_TEMP", Labels: map[string]string{"a-b": "x"}}, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.q.PromQL()
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Fatalf("PromQL() = %q, %v; want %q, err %v", got, err, tt.want, tt.wantErr)
			}
			if tt.wantErr && !errors.Is(err, ErrNotAllowed) {
				t.Fatalf("error %v does not wrap ErrNotAllowed", err)
			}
		})
	}
}

func TestDoAgainstPrometheusAPI(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query().Get("query")
		switch r.URL.Path {
		case "/api/v1/query":
			if q != `DCGM_FI_DEV_GPU_TEMP{gpu="0"}` {
				http.Error(w, `{"status":"error","errorType":"bad_data","error":"unexpected query"}`, http.StatusBadRequest)
				return
			}
			_, _ = w.Write([]byte(`{"status":"success","data":{"resultType":"vector","result":[{"metric":{"__name__":"DCGM_FI_DEV_GPU_TEMP","gpu":"0"},"value":[1768471200.5,"61"]}]}}`))
		case "/api/v1/query_range":
			if r.URL.Query().Get("step") != "60" {
				http.Error(w, "bad step", http.StatusBadRequest)
				return
			}
			_, _ = w.Write([]byte(`{"status":"success","data":{"resultType":"matrix","result":[{"metric":{"gpu":"0"},"values":[[1768471200,"60"],[1768471260,"62"]]}]}}`))
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	c := &Client{BaseURL: srv.URL, HTTP: srv.Client()}
	ctx := context.Background()
	got, err := c.Do(ctx, Query{Metric: "DCGM_FI_DEV_GPU_TEMP", Labels: map[string]string{"gpu": "0"}})
	if err != nil || len(got) != 1 || got[0].Samples[0].Value != 61 || got[0].Samples[0].Time.Unix() != 1768471200 {
		t.Fatalf("instant = %+v, %v", got, err)
	}
	start := time.Unix(1768471200, 0)
	got, err = c.Do(ctx, Query{Metric: "DCGM_FI_DEV_GPU_TEMP", Start: start, End: start.Add(time.Minute), Step: time.Minute})
	if err != nil || len(got[0].Samples) != 2 {
		t.Fatalf("range = %+v, %v", got, err)
	}
	if _, err := c.Do(ctx, Query{Metric: "DCGM_FI_DEV_POWER_USAGE"}); err == nil || !strings.Contains(err.Error(), "bad_data") {
		t.Fatalf("error answer = %v", err)
	}
	down := &Client{BaseURL: "http://127.0.0.1:1"}
	if _, err := down.Do(ctx, Query{Metric: "DCGM_FI_DEV_GPU_TEMP"}); err == nil || !strings.Contains(err.Error(), "query prometheus") {
		t.Fatalf("prometheus down = %v", err)
	}
}
