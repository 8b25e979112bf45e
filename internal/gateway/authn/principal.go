package authn

import (
	"fmt"
	"log/slog"
	"slices"
	"time"
)

// anonymousID is the identity string of the anonymous principal.
const anonymousID = "anonymous"

// Principal is the authenticated caller of one request.
//
// A Principal returned by an Authenticator may be shared between concurrent
// requests through the verified-token cache: treat it as read-only.
type Principal struct {
	// Subject is the token's "sub" claim.
	Subject string
	// Issuer is the token's "iss" claim, equal to the configured issuer.
	Issuer string
	// Username is the value of the provider's username claim ("sub" by default).
	Username string
	// Groups holds the values of the provider's groups claim ("groups" by default).
	Groups []string
	// Claims holds every claim of the verified token as decoded JSON.
	Claims map[string]any
	// Token is the raw bearer token. It exists only so that a route with
	// Passthrough backend authentication can forward it; it is never logged,
	// printed or marshalled.
	Token string `json:"-"`
	// Anonymous reports that no token was presented and the route allows anonymous access.
	Anonymous bool
	// Audience holds the token's "aud" values. When routes have distinct RFC 8707
	// resource indicators but share an Authenticator, check the route's with HasAudience.
	Audience []string
	// Expires is the token's "exp" claim; zero for an anonymous principal.
	Expires time.Time

	id string
}

// Anonymous returns the principal used for requests without a token on routes that allow them.
func Anonymous() *Principal {
	return &Principal{Subject: anonymousID, Username: anonymousID, Anonymous: true, id: anonymousID}
}

// ID returns a stable identity for the principal, unique across issuers: the
// issuer and the subject joined by a space, or "anonymous". Sessions are bound to it.
func (p *Principal) ID() string {
	switch {
	case p == nil:
		return ""
	case p.id != "":
		return p.id
	case p.Anonymous:
		return anonymousID
	default:
		return principalID(p.Issuer, p.Subject)
	}
}

// HasAudience reports whether aud is one of the token's audiences.
func (p *Principal) HasAudience(aud string) bool {
	return p != nil && slices.Contains(p.Audience, aud)
}

// principalID joins an issuer and a subject; a space cannot occur in an issuer URL.
func principalID(issuer, subject string) string {
	return issuer + " " + subject
}

// String describes the principal for humans without the token.
func (p Principal) String() string {
	if p.Anonymous {
		return anonymousID
	}
	return fmt.Sprintf("%s (iss=%s sub=%s groups=%v)", p.Username, p.Issuer, p.Subject, p.Groups)
}

// GoString describes the principal for %#v without the token.
func (p Principal) GoString() string {
	return "authn.Principal{" + p.String() + "}"
}

// LogValue implements slog.LogValuer: it logs the identity and groups but never the token or the claims.
func (p Principal) LogValue() slog.Value {
	if p.Anonymous {
		return slog.GroupValue(slog.Bool("anonymous", true))
	}
	return slog.GroupValue(
		slog.String("username", p.Username),
		slog.String("issuer", p.Issuer),
		slog.String("subject", p.Subject),
		slog.Any("groups", p.Groups),
	)
}
