package authn

import (
	"errors"
	"net/http"
)

// Reason is a stable, machine-readable cause of an authentication failure.
// It is safe to put in an error_description or a metric label.
type Reason string

// Authentication failure reasons.
const (
	// ReasonMissingToken is set when the request carries no bearer token.
	ReasonMissingToken Reason = "missing_token"
	// ReasonMalformedToken is set when the token is not a compact JWS with a JSON header and payload.
	ReasonMalformedToken Reason = "malformed_token"
	// ReasonUnsupportedAlgorithm is set when the token's alg is not in the issuer's allow-list.
	ReasonUnsupportedAlgorithm Reason = "unsupported_algorithm"
	// ReasonUnknownIssuer is set when the token's iss is not a configured issuer.
	ReasonUnknownIssuer Reason = "unknown_issuer"
	// ReasonUnknownKey is set when no published key of the issuer matches the token's kid.
	ReasonUnknownKey Reason = "unknown_key"
	// ReasonInvalidSignature is set when the signature does not verify.
	ReasonInvalidSignature Reason = "invalid_signature"
	// ReasonInvalidAudience is set when no aud value is one of the configured audiences.
	ReasonInvalidAudience Reason = "invalid_audience"
	// ReasonExpired is set when exp is in the past, beyond the allowed skew.
	ReasonExpired Reason = "token_expired"
	// ReasonNotYetValid is set when nbf or iat is in the future, beyond the allowed skew.
	ReasonNotYetValid Reason = "token_not_yet_valid"
	// ReasonInvalidClaims is set when a required claim (sub, exp, the username claim) is missing or mistyped.
	ReasonInvalidClaims Reason = "invalid_claims"
	// ReasonProviderUnavailable is set when the issuer's discovery document or keys cannot be fetched.
	ReasonProviderUnavailable Reason = "provider_unavailable"
)

// descriptions are fixed texts for each reason; they never contain token material.
var descriptions = map[Reason]string{
	ReasonMissingToken:         "a bearer token is required",
	ReasonMalformedToken:       "the bearer token is not a well-formed JWT",
	ReasonUnsupportedAlgorithm: "the token's signing algorithm is not allowed",
	ReasonUnknownIssuer:        "the token's issuer is not trusted",
	ReasonUnknownKey:           "the token's signing key is unknown",
	ReasonInvalidSignature:     "the token's signature is invalid",
	ReasonInvalidAudience:      "the token is not intended for this resource",
	ReasonExpired:              "the token has expired",
	ReasonNotYetValid:          "the token is not valid yet",
	ReasonInvalidClaims:        "the token lacks a required claim",
	ReasonProviderUnavailable:  "the token issuer's keys are unavailable",
}

// Error is the error returned by Authenticate. Its text never includes the token.
type Error struct {
	// Reason is the stable cause of the failure.
	Reason Reason
	// Err is the underlying cause, if any; it never contains token material.
	Err error
}

// Error returns the reason and its fixed description.
func (e *Error) Error() string {
	return "authenticate: " + string(e.Reason) + ": " + e.Description()
}

// Unwrap returns the underlying cause.
func (e *Error) Unwrap() error { return e.Err }

// Description returns a fixed human-readable text for the reason, suitable for
// the error_description parameter of a WWW-Authenticate header.
func (e *Error) Description() string {
	if d, ok := descriptions[e.Reason]; ok {
		return d
	}
	return "the token is invalid"
}

// Code returns the RFC 6750 error code for a WWW-Authenticate header: empty when
// no token was presented or the provider is unavailable, "invalid_token" otherwise.
func (e *Error) Code() string {
	switch e.Reason {
	case ReasonMissingToken, ReasonProviderUnavailable:
		return ""
	default:
		return "invalid_token"
	}
}

// HTTPStatus returns the HTTP status a gateway should answer with:
// 503 when the issuer's keys cannot be fetched, 401 otherwise.
func (e *Error) HTTPStatus() int {
	if e.Reason == ReasonProviderUnavailable {
		return http.StatusServiceUnavailable
	}
	return http.StatusUnauthorized
}

// ReasonOf returns the Reason of an authentication error, or "" when err is not an *Error.
func ReasonOf(err error) Reason {
	var ae *Error
	if errors.As(err, &ae) {
		return ae.Reason
	}
	return ""
}

// fail builds an *Error.
func fail(r Reason, cause error) *Error {
	return &Error{Reason: r, Err: cause}
}
