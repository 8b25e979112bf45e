package gpumcp

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/toolmesh/toolmesh/internal/gpu/agent"
)

type countingTransport struct {
	next    http.RoundTripper
	reviews *atomic.Int32
}

func (c countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if strings.HasSuffix(r.URL.Path, "/tokenreviews") {
		c.reviews.Add(1)
	}
	return c.next.RoundTrip(r)
}

func TestTokenReviewCache(t *testing.T) {
	var reviews atomic.Int32
	cfg := rest.CopyConfig(restConfig)
	cfg.WrapTransport = func(rt http.RoundTripper) http.RoundTripper { return countingTransport{next: rt, reviews: &reviews} }
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	a := &agent.TokenReviewAuthenticator{
		Client: kubernetes.NewForConfigOrDie(cfg), Audiences: []string{agentAudience}, Allowed: []string{serverUser},
		CacheTTL: 10 * time.Second, Now: func() time.Time { return now },
	}
	ctx := context.Background()
	tests := []struct {
		name        string
		token       string
		advance     time.Duration
		wantErr     error
		wantReviews int32
	}{
		{"first call reviews", serverToken, 0, nil, 1},
		{"second call is cached", serverToken, 5 * time.Second, nil, 1},
		{"expired entry reviews again", serverToken, 6 * time.Second, nil, 2},
		{"forbidden caller is not cached", strangerTok, 0, agent.ErrForbidden, 3},
		{"forbidden caller reviewed again", strangerTok, 0, agent.ErrForbidden, 4},
		{"garbage is rejected", "garbage", 0, agent.ErrUnauthenticated, 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now = now.Add(tt.advance)
			_, err := a.Authenticate(ctx, tt.token)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if got := reviews.Load(); got != tt.wantReviews {
				t.Fatalf("TokenReviews sent = %d, want %d", got, tt.wantReviews)
			}
		})
	}
}
