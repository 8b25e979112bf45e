package session_test

import (
	"bytes"
	"encoding/base64"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/toolmesh/toolmesh/internal/gateway/session"
)

var (
	epoch  = time.Unix(1_900_000_000, 0)
	keyA   = bytes.Repeat([]byte{0xA1}, 32)
	keyB   = bytes.Repeat([]byte{0xB2}, 48)
	keyC   = bytes.Repeat([]byte{0xC3}, 32)
	alice  = "https://idp.example.test alice"
	mallet = "https://idp.example.test mallet"
)

func sealer(t *testing.T, now time.Time, keys ...[]byte) *session.Sealer {
	t.Helper()
	s, err := session.NewSealerWithOptions(session.Options{Keys: keys, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatalf("NewSealerWithOptions: %v", err)
	}
	return s
}

func state() session.State {
	return session.State{
		Principal: alice,
		Route:     "team-a/gpu",
		Backends: map[string]session.BackendSession{
			"gpu":  {SessionID: "b7c1e0aa-backend-session", Endpoint: "10.0.3.17:8080"},
			"docs": {},
		},
		ProtocolVersion: "2025-11-25",
		Expires:         epoch.Add(time.Hour),
	}
}

func TestRoundTrip(t *testing.T) {
	s := sealer(t, epoch, keyA)
	want := state()
	tok, err := s.Seal(want)
	if err != nil {
		t.Fatalf("Seal: %v", err)
	}
	got, err := s.Open(tok, alice)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if !got.Expires.Equal(want.Expires) {
		t.Errorf("expires = %v, want %v", got.Expires, want.Expires)
	}
	got.Expires, want.Expires = time.Time{}, time.Time{}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("state = %+v, want %+v", got, want)
	}
	t.Run("a replica with the same key opens it", func(t *testing.T) {
		if _, err := sealer(t, epoch, keyA).OpenFor(tok, alice, "team-a/gpu"); err != nil {
			t.Fatalf("OpenFor on another Sealer: %v", err)
		}
	})
	t.Run("the state is encrypted, not only signed", func(t *testing.T) {
		raw, _ := base64.RawURLEncoding.DecodeString(tok)
		for _, secret := range []string{"alice", "b7c1e0aa", "10.0.3.17", "team-a"} {
			if bytes.Contains(raw, []byte(secret)) || strings.Contains(tok, secret) {
				t.Errorf("sealed id reveals %q", secret)
			}
		}
	})
	t.Run("sealing twice gives different ids", func(t *testing.T) {
		again, err := s.Seal(state())
		if err != nil || again == tok {
			t.Fatalf("second Seal = %q, %v; want a fresh nonce", again, err)
		}
	})
	t.Run("the id is a valid header value", func(t *testing.T) {
		for _, r := range tok {
			if r < 0x21 || r > 0x7e {
				t.Fatalf("id contains %q", r)
			}
		}
	})
}

func TestOpenRefuses(t *testing.T) {
	s := sealer(t, epoch, keyA)
	tok, err := s.Seal(state())
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		opener    *session.Sealer
		token     string
		principal string
		route     string
		want      error
	}{
		{"other principal", s, tok, mallet, "team-a/gpu", session.ErrWrongPrincipal},
		{"empty principal", s, tok, "", "team-a/gpu", session.ErrWrongPrincipal},
		{"other route", s, tok, alice, "team-b/gpu", session.ErrWrongRoute},
		{"expired", sealer(t, epoch.Add(time.Hour), keyA), tok, alice, "team-a/gpu", session.ErrExpired},
		{"wrong key", sealer(t, epoch, keyB), tok, alice, "team-a/gpu", session.ErrInvalid},
		{"empty id", s, "", alice, "team-a/gpu", session.ErrInvalid},
		{"not base64", s, "!!!not-base64***", alice, "team-a/gpu", session.ErrInvalid},
		{"truncated", s, tok[:len(tok)-4], alice, "team-a/gpu", session.ErrInvalid},
		{"extended", s, tok + "AAAA", alice, "team-a/gpu", session.ErrInvalid},
		{"header only", s, tok[:6], alice, "team-a/gpu", session.ErrInvalid},
		{"oversized", s, strings.Repeat("A", session.MaxTokenBytes+1), alice, "team-a/gpu", session.ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.opener.OpenFor(tt.token, tt.principal, tt.route)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if tt.token != "" && strings.Contains(err.Error(), tt.token) {
				t.Error("error text contains the session id")
			}
		})
	}
}

func TestOpenRefusesEveryBitFlip(t *testing.T) {
	s := sealer(t, epoch, keyA)
	tok, err := s.Seal(state())
	if err != nil {
		t.Fatal(err)
	}
	raw, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil {
		t.Fatal(err)
	}
	for i := range len(raw) * 8 {
		flipped := bytes.Clone(raw)
		flipped[i/8] ^= 1 << (i % 8)
		if _, err := s.Open(base64.RawURLEncoding.EncodeToString(flipped), alice); !errors.Is(err, session.ErrInvalid) {
			t.Fatalf("bit %d flipped: err = %v, want ErrInvalid", i, err)
		}
	}
}

func TestKeyRotation(t *testing.T) {
	oldOnly := sealer(t, epoch, keyA)
	rotated := sealer(t, epoch, keyC, keyA)
	fromOld, err := oldOnly.Seal(state())
	if err != nil {
		t.Fatal(err)
	}
	fromNew, err := rotated.Seal(state())
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		opener *session.Sealer
		token  string
		want   error
	}{
		{"rotated sealer opens ids of the old key", rotated, fromOld, nil},
		{"rotated sealer opens its own ids", rotated, fromNew, nil},
		{"old sealer cannot open ids of the new key", oldOnly, fromNew, session.ErrInvalid},
		{"sealer after retiring the old key refuses old ids", sealer(t, epoch, keyC), fromOld, session.ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := tt.opener.Open(tt.token, alice); !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
	if oldOnly.KeyID() == rotated.KeyID() {
		t.Error("rotated sealer reports the old key id")
	}
}

func TestConfigAndSealErrors(t *testing.T) {
	s := sealer(t, epoch, keyA)
	noPrincipal := state()
	noPrincipal.Principal = ""
	noExpiry := state()
	noExpiry.Expires = time.Time{}
	huge := state()
	huge.Backends["big"] = session.BackendSession{SessionID: strings.Repeat("x", session.MaxTokenBytes)}
	tests := []struct {
		name string
		run  func() error
		want string
	}{
		{"short key", func() error { _, err := session.NewSealer(make([]byte, 16)); return err }, "at least 32"},
		{"short older key", func() error { _, err := session.NewSealer(keyA, []byte("short")); return err }, "key 1"},
		{"no keys", func() error { _, err := session.NewSealerWithOptions(session.Options{}); return err }, "no key"},
		{"no principal", func() error { _, err := s.Seal(noPrincipal); return err }, "no principal"},
		{"no expiry", func() error { _, err := s.Seal(noExpiry); return err }, "no expiry"},
		{"too large", func() error { _, err := s.Seal(huge); return err }, "too large"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.run(); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want one mentioning %q", err, tt.want)
			}
		})
	}
}

func BenchmarkSealOpen(b *testing.B) {
	s, err := session.NewSealer(keyA)
	if err != nil {
		b.Fatal(err)
	}
	st := state()
	st.Expires = time.Now().Add(time.Hour)
	for b.Loop() {
		tok, err := s.Seal(st)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := s.Open(tok, alice); err != nil {
			b.Fatal(err)
		}
	}
}
