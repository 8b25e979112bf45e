package session

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

const (
	// MinKeyBytes is the shortest accepted session key.
	MinKeyBytes = 32
	// MaxTokenBytes bounds the length of a session id accepted by Open.
	MaxTokenBytes = 8 << 10
	// formatVersion is the first byte of every sealed token.
	formatVersion byte = 1
	// headerBytes is the version byte plus the key id.
	headerBytes = 1 + 4
	// sealInfo and idInfo separate the HKDF outputs for the AEAD key and the key id.
	sealInfo = "toolmesh session seal v1"
	idInfo   = "toolmesh session key id v1"
)

// Errors returned by Open. Open wraps them; test with errors.Is.
var (
	// ErrInvalid is returned for a session id that is malformed, tampered with,
	// or sealed with a key this Sealer does not hold; these cases are deliberately indistinguishable.
	ErrInvalid = errors.New("session id is invalid")
	// ErrExpired is returned for an authentic session id past its expiry.
	ErrExpired = errors.New("session has expired")
	// ErrWrongPrincipal is returned for an authentic session id issued to another principal.
	ErrWrongPrincipal = errors.New("session belongs to another principal")
	// ErrWrongRoute is returned by OpenFor for an authentic session id issued on another route.
	ErrWrongRoute = errors.New("session belongs to another route")
)

// BackendSession is the state of one backend within a client session.
type BackendSession struct {
	// SessionID is the backend's own Mcp-Session-Id, empty for a stateless backend.
	SessionID string `json:"s,omitempty"`
	// Endpoint is the pinned backend address (a pod endpoint), empty when the Service is used.
	Endpoint string `json:"e,omitempty"`
}

// State is everything a gateway replica needs to continue a client session.
type State struct {
	// Principal is the authn.Principal ID the session was issued to.
	Principal string `json:"p"`
	// Route is the name of the route the session belongs to.
	Route string `json:"r,omitempty"`
	// Backends maps a backend name to its session state.
	Backends map[string]BackendSession `json:"b,omitempty"`
	// ProtocolVersion is the negotiated MCP protocol revision.
	ProtocolVersion string `json:"v,omitempty"`
	// Expires is when the session stops being accepted.
	Expires time.Time `json:"-"`
}

// wireState is State with the expiry in Unix seconds.
type wireState struct {
	State
	Exp int64 `json:"x"`
}

// Options configures a Sealer.
type Options struct {
	// Keys are the session keys, at least MinKeyBytes each. Seal uses the first;
	// Open accepts any, so a new key can be put first while old ids stay valid.
	Keys [][]byte
	// Now returns the current time; time.Now when nil.
	Now func() time.Time
}

// Sealer seals and opens session state with AES-256-GCM under keys derived by
// HKDF-SHA256 from the configured keys. It is safe for concurrent use.
type Sealer struct {
	now  func() time.Time
	keys []sealKey
}

// sealKey is one derived key.
type sealKey struct {
	id   [4]byte
	aead cipher.AEAD
}

// NewSealer returns a Sealer that seals with key and also opens ids sealed with any of older.
func NewSealer(key []byte, older ...[]byte) (*Sealer, error) {
	return NewSealerWithOptions(Options{Keys: append([][]byte{key}, older...)})
}

// NewSealerWithOptions returns a Sealer configured by opts.
func NewSealerWithOptions(opts Options) (*Sealer, error) {
	if len(opts.Keys) == 0 {
		return nil, errors.New("new sealer: no key")
	}
	s := &Sealer{now: opts.Now}
	if s.now == nil {
		s.now = time.Now
	}
	for i, k := range opts.Keys {
		sk, err := deriveKey(k)
		if err != nil {
			return nil, fmt.Errorf("new sealer: key %d: %w", i, err)
		}
		s.keys = append(s.keys, sk)
	}
	return s, nil
}

// deriveKey derives the AEAD key and the key id from one configured key.
func deriveKey(secret []byte) (sealKey, error) {
	var sk sealKey
	if len(secret) < MinKeyBytes {
		return sk, fmt.Errorf("key has %d bytes, want at least %d", len(secret), MinKeyBytes)
	}
	aesKey, err := hkdf.Key(sha256.New, secret, nil, sealInfo, 32)
	if err != nil {
		return sk, fmt.Errorf("derive key: %w", err)
	}
	id, err := hkdf.Key(sha256.New, secret, nil, idInfo, len(sk.id))
	if err != nil {
		return sk, fmt.Errorf("derive key id: %w", err)
	}
	copy(sk.id[:], id)
	block, err := aes.NewCipher(aesKey)
	if err != nil {
		return sk, fmt.Errorf("new cipher: %w", err)
	}
	if sk.aead, err = cipher.NewGCMWithRandomNonce(block); err != nil {
		return sk, fmt.Errorf("new gcm: %w", err)
	}
	return sk, nil
}

// Seal encrypts and authenticates st into a URL-safe session id. The state must
// name a principal and an expiry.
func (s *Sealer) Seal(st State) (string, error) {
	if st.Principal == "" {
		return "", errors.New("seal session: no principal")
	}
	if st.Expires.IsZero() {
		return "", errors.New("seal session: no expiry")
	}
	plain, err := json.Marshal(wireState{State: st, Exp: st.Expires.Unix()})
	if err != nil {
		return "", fmt.Errorf("seal session: encode state: %w", err)
	}
	k := s.keys[0]
	header := make([]byte, headerBytes, headerBytes+len(plain)+k.aead.Overhead())
	header[0] = formatVersion
	copy(header[1:], k.id[:])
	sealed := k.aead.Seal(header, nil, plain, header)
	if len(sealed)*4/3+4 > MaxTokenBytes {
		return "", fmt.Errorf("seal session: state too large (%d bytes)", len(plain))
	}
	return base64.RawURLEncoding.EncodeToString(sealed), nil
}

// Open authenticates and decrypts a session id and checks that it has not
// expired and was issued to principal. Errors wrap ErrInvalid, ErrExpired or ErrWrongPrincipal.
func (s *Sealer) Open(token, principal string) (State, error) {
	st, err := s.open(token)
	if err != nil {
		return State{}, err
	}
	if st.Principal != principal {
		return State{}, fmt.Errorf("open session: %w", ErrWrongPrincipal)
	}
	return st, nil
}

// OpenFor is Open that also refuses a session issued on another route with ErrWrongRoute.
func (s *Sealer) OpenFor(token, principal, route string) (State, error) {
	st, err := s.Open(token, principal)
	if err != nil {
		return State{}, err
	}
	if st.Route != route {
		return State{}, fmt.Errorf("open session: %w", ErrWrongRoute)
	}
	return st, nil
}

// open authenticates, decrypts and checks the expiry of a session id.
func (s *Sealer) open(token string) (State, error) {
	if len(token) > MaxTokenBytes {
		return State{}, fmt.Errorf("open session: too long: %w", ErrInvalid)
	}
	raw, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil || len(raw) < headerBytes || raw[0] != formatVersion {
		return State{}, fmt.Errorf("open session: malformed: %w", ErrInvalid)
	}
	header := raw[:headerBytes]
	var plain []byte
	opened := false
	for _, k := range s.keys {
		if !bytes.Equal(k.id[:], header[1:]) {
			continue
		}
		if plain, err = k.aead.Open(nil, nil, raw[headerBytes:], header); err == nil {
			opened = true
			break
		}
	}
	if !opened {
		return State{}, fmt.Errorf("open session: not authentic: %w", ErrInvalid)
	}
	var w wireState
	if err := json.Unmarshal(plain, &w); err != nil {
		return State{}, fmt.Errorf("open session: decode state: %w", ErrInvalid)
	}
	w.Expires = time.Unix(w.Exp, 0)
	if !s.now().Before(w.Expires) {
		return State{}, fmt.Errorf("open session: %w", ErrExpired)
	}
	return w.State, nil
}

// KeyID returns the public 4-byte identifier of the sealing key as a number, for logs and metrics.
func (s *Sealer) KeyID() uint32 {
	return binary.BigEndian.Uint32(s.keys[0].id[:])
}
