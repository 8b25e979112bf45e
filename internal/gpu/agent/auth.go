package agent

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// ErrUnauthenticated means the caller's token was missing or not valid.
var ErrUnauthenticated = errors.New("unauthenticated")

// ErrForbidden means the caller is authenticated but not allowed to call the agent.
var ErrForbidden = errors.New("forbidden")

// Authenticator checks a bearer token and returns the caller's user name.
type Authenticator interface {
	// Authenticate returns the user behind token or an error wrapping ErrUnauthenticated or ErrForbidden.
	Authenticate(ctx context.Context, token string) (string, error)
}

// TokenReviewAuthenticator checks ServiceAccount tokens with the Kubernetes TokenReview API and
// admits only the listed users (system:serviceaccount:<namespace>:<name>).
type TokenReviewAuthenticator struct {
	// Client creates TokenReviews; it needs create on tokenreviews (system:auth-delegator).
	Client kubernetes.Interface
	// Audiences are the audiences the token must carry; empty means the API server's default.
	Audiences []string
	// Allowed lists the user names admitted.
	Allowed []string
	// CacheTTL keeps a successful review this long, so a fan-out does not cost one TokenReview
	// per request; zero disables the cache. Only a hash of the token is kept.
	CacheTTL time.Duration
	// Now returns the current time; defaults to time.Now.
	Now func() time.Time

	mu    sync.Mutex
	cache map[[sha256.Size]byte]cached
}

type cached struct {
	user    string
	expires time.Time
}

// maxCached bounds the cache; past it, the cache is emptied.
const maxCached = 1024

// Authenticate reviews the token with the API server, or answers from the cache.
func (a *TokenReviewAuthenticator) Authenticate(ctx context.Context, token string) (string, error) {
	if token == "" {
		return "", fmt.Errorf("%w: no bearer token", ErrUnauthenticated)
	}
	now := time.Now
	if a.Now != nil {
		now = a.Now
	}
	key := sha256.Sum256([]byte(token))
	a.mu.Lock()
	c, hit := a.cache[key]
	a.mu.Unlock()
	if hit && now().Before(c.expires) {
		return c.user, nil
	}
	user, err := a.review(ctx, token)
	if err == nil && a.CacheTTL > 0 {
		a.mu.Lock()
		if a.cache == nil || len(a.cache) >= maxCached {
			a.cache = map[[sha256.Size]byte]cached{}
		}
		a.cache[key] = cached{user: user, expires: now().Add(a.CacheTTL)}
		a.mu.Unlock()
	}
	return user, err
}

func (a *TokenReviewAuthenticator) review(ctx context.Context, token string) (string, error) {
	review := &authenticationv1.TokenReview{Spec: authenticationv1.TokenReviewSpec{Token: token, Audiences: a.Audiences}}
	res, err := a.Client.AuthenticationV1().TokenReviews().Create(ctx, review, metav1.CreateOptions{})
	if err != nil {
		return "", fmt.Errorf("review token: %w", err)
	}
	if !res.Status.Authenticated {
		return "", fmt.Errorf("%w: token rejected by the API server", ErrUnauthenticated)
	}
	user := res.Status.User.Username
	if !slices.Contains(a.Allowed, user) {
		return user, fmt.Errorf("%w: %s may not call the GPU agent", ErrForbidden, user)
	}
	return user, nil
}
