package authn

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// maxDocumentBytes bounds a discovery document or a JWKS response.
const maxDocumentBytes = 1 << 20

// errKeyNotFound is returned by keySet.VerifySignature when no key matches.
var errKeyNotFound = errors.New("no matching key")

// keySet is a JWKS cache for one issuer. It implements oidc.KeySet.
//
// Unlike a plain remote key set it refetches on an unknown kid at most once per
// minInterval, so a flood of tokens with made-up key ids costs one fetch per
// interval rather than one per request.
type keySet struct {
	issuer      string
	client      *http.Client
	algs        []jose.SignatureAlgorithm
	minInterval time.Duration
	now         func() time.Time
	tokenFile   string // bearer token file for the key endpoints, if any

	keys atomic.Pointer[[]jose.JSONWebKey]

	fetchMu     sync.Mutex // serialises fetches and guards the fields below
	jwksURI     string     // configured, or discovered on first fetch
	lastAttempt time.Time
	fetches     atomic.Int64
}

// lookup returns the cached keys usable for kid and alg. An empty kid matches every key.
func (k *keySet) lookup(kid, alg string) []jose.JSONWebKey {
	p := k.keys.Load()
	if p == nil {
		return nil
	}
	var out []jose.JSONWebKey
	for _, key := range *p {
		if (kid == "" || key.KeyID == kid) && keyFitsAlg(key, alg) {
			out = append(out, key)
		}
	}
	return out
}

// ensure makes sure a key for kid and alg is cached, refetching the key set if
// the rate limit allows it.
func (k *keySet) ensure(ctx context.Context, kid, alg string) error {
	if len(k.lookup(kid, alg)) > 0 {
		return nil
	}
	k.fetchMu.Lock()
	defer k.fetchMu.Unlock()
	// Another request may have fetched while this one waited.
	if len(k.lookup(kid, alg)) > 0 {
		return nil
	}
	now := k.now()
	if !k.lastAttempt.IsZero() && now.Sub(k.lastAttempt) < k.minInterval {
		if k.keys.Load() == nil {
			return fail(ReasonProviderUnavailable, nil)
		}
		return fail(ReasonUnknownKey, nil)
	}
	k.lastAttempt = now
	if err := k.refresh(ctx); err != nil {
		return fail(ReasonProviderUnavailable, err)
	}
	if len(k.lookup(kid, alg)) == 0 {
		return fail(ReasonUnknownKey, nil)
	}
	return nil
}

// refresh discovers the JWKS URI if needed and fetches the key set. It is called with fetchMu held.
func (k *keySet) refresh(ctx context.Context) error {
	if k.jwksURI == "" {
		uri, err := k.discover(ctx)
		if err != nil {
			return err
		}
		k.jwksURI = uri
	}
	k.fetches.Add(1)
	var set jose.JSONWebKeySet
	if err := k.getJSON(ctx, k.jwksURI, &set); err != nil {
		return fmt.Errorf("fetch keys of issuer %s: %w", k.issuer, err)
	}
	keys := make([]jose.JSONWebKey, 0, len(set.Keys))
	for _, key := range set.Keys {
		if usableKey(key) {
			keys = append(keys, key)
		}
	}
	k.keys.Store(&keys)
	return nil
}

// discover reads the issuer's OpenID discovery document and returns its jwks_uri.
func (k *keySet) discover(ctx context.Context) (string, error) {
	var doc struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	url := strings.TrimSuffix(k.issuer, "/") + "/.well-known/openid-configuration"
	if err := k.getJSON(ctx, url, &doc); err != nil {
		return "", fmt.Errorf("discover issuer %s: %w", k.issuer, err)
	}
	if doc.Issuer != k.issuer {
		return "", fmt.Errorf("discover issuer %s: document names issuer %q", k.issuer, doc.Issuer)
	}
	if doc.JWKSURI == "" {
		return "", fmt.Errorf("discover issuer %s: document has no jwks_uri", k.issuer)
	}
	return doc.JWKSURI, nil
}

// getJSON fetches url and decodes a bounded JSON body into v.
func (k *keySet) getJSON(ctx context.Context, url string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	if k.tokenFile != "" {
		tok, err := os.ReadFile(k.tokenFile)
		if err != nil {
			return fmt.Errorf("read keys bearer token: %w", err)
		}
		req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(tok)))
	}
	resp, err := k.client.Do(req)
	if err != nil {
		return fmt.Errorf("get %s: %w", url, err)
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("get %s: status %d", url, resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxDocumentBytes+1))
	if err != nil {
		return fmt.Errorf("read %s: %w", url, err)
	}
	if len(body) > maxDocumentBytes {
		return fmt.Errorf("read %s: body exceeds %d bytes", url, maxDocumentBytes)
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("decode %s: %w", url, err)
	}
	return nil
}

// VerifySignature implements oidc.KeySet over the cached keys only; ensure has
// already fetched whatever the rate limit allows.
func (k *keySet) VerifySignature(_ context.Context, jwt string) ([]byte, error) {
	jws, err := jose.ParseSigned(jwt, k.algs)
	if err != nil {
		return nil, fmt.Errorf("parse jws: %w", err)
	}
	if len(jws.Signatures) != 1 {
		return nil, errors.New("want exactly one signature")
	}
	h := jws.Signatures[0].Header
	for _, key := range k.lookup(h.KeyID, h.Algorithm) {
		if payload, err := jws.Verify(key); err == nil {
			return payload, nil
		}
	}
	return nil, errKeyNotFound
}

// usableKey reports whether a published JWK may verify signatures: a valid public
// key whose use, if stated, is "sig".
func usableKey(key jose.JSONWebKey) bool {
	if !key.Valid() || !key.IsPublic() || (key.Use != "" && key.Use != "sig") {
		return false
	}
	switch key.Key.(type) {
	case *rsa.PublicKey, *ecdsa.PublicKey, ed25519.PublicKey:
		return true
	default:
		return false
	}
}

// keyFitsAlg reports whether key may verify a signature made with alg: the key
// type must match the algorithm family, and the key's own alg, if stated, must equal it.
func keyFitsAlg(key jose.JSONWebKey, alg string) bool {
	if key.Algorithm != "" && key.Algorithm != alg {
		return false
	}
	switch key.Key.(type) {
	case *rsa.PublicKey:
		return strings.HasPrefix(alg, "RS") || strings.HasPrefix(alg, "PS")
	case *ecdsa.PublicKey:
		return strings.HasPrefix(alg, "ES")
	case ed25519.PublicKey:
		return alg == string(jose.EdDSA)
	default:
		return false
	}
}
