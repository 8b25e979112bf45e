package agent

import (
	"context"
	"errors"
	"fmt"
	"slices"

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
}

// Authenticate reviews the token with the API server.
func (a *TokenReviewAuthenticator) Authenticate(ctx context.Context, token string) (string, error) {
	if token == "" {
		return "", fmt.Errorf("%w: no bearer token", ErrUnauthenticated)
	}
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
