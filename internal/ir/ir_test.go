package ir

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func validConfig() *Config {
	return &Config{
		APIVersion:     APIVersion,
		Listeners:      []Listener{{Name: "http", Address: "127.0.0.1:0"}},
		Authentication: Authentication{Anonymous: AnonymousAllow},
		Routes: []Route{{
			Name:     "r",
			Path:     "/mcp",
			Backends: []Backend{{Name: "b", URL: "http://127.0.0.1:9/mcp"}},
		}},
	}
}

func TestLoadExample(t *testing.T) {
	c, err := Load(filepath.Join("testdata", "example.yaml"))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	r := c.Routes[0]
	if got := r.Policies.Timeouts.PerTool["gpu_long"].Duration; got != 5*time.Minute {
		t.Errorf("perTool timeout = %v, want 5m", got)
	}
	if r.Policies.Limits.MaxJSONDepth != DefaultMaxJSONDepth || r.Backends[1].Transport != TransportStreamableHTTP {
		t.Errorf("defaults not applied: %+v", r)
	}
	if !r.AuthenticationRequired(c.Authentication) {
		t.Error("route should require authentication when a provider exists")
	}
}

func TestValidateFieldPaths(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(c *Config)
		field  string
	}{
		{"api version", func(c *Config) { c.APIVersion = "v0" }, "apiVersion"},
		{"no listeners", func(c *Config) { c.Listeners = nil }, "listeners"},
		{"listener address", func(c *Config) { c.Listeners[0].Address = "nope" }, "listeners[0].address"},
		{"silent open default", func(c *Config) { c.Authentication.Anonymous = "" }, "authentication.anonymous"},
		{"plain http issuer", func(c *Config) {
			c.Authentication.OIDC = []OIDCProvider{{Issuer: "http://idp.example.com", Audiences: []string{"a"}}}
		}, "authentication.oidc[0].issuer"},
		{"no audience", func(c *Config) {
			c.Authentication.OIDC = []OIDCProvider{{Issuer: "https://idp.example.com"}}
		}, "authentication.oidc[0].audiences"},
		{"alg none", func(c *Config) {
			c.Authentication.OIDC = []OIDCProvider{{Issuer: "https://i", Audiences: []string{"a"}, Algorithms: []string{"none"}}}
		}, "authentication.oidc[0].algorithms[0]"},
		{"authz mode", func(c *Config) { c.Authorization.Mode = "Maybe" }, "authorization.mode"},
		{"origin with path", func(c *Config) { c.AllowedOrigins = []string{"https://a/b"} }, "allowedOrigins[0]"},
		{"dot segment path", func(c *Config) { c.Routes[0].Path = "/mcp/../admin" }, "routes[0].path"},
		{"encoded path", func(c *Config) { c.Routes[0].Path = "/mcp%2Fx" }, "routes[0].path"},
		{"reserved path", func(c *Config) { c.Routes[0].Path = "/.well-known/x" }, "routes[0].path"},
		{"duplicate route", func(c *Config) { c.Routes = append(c.Routes, c.Routes[0]) }, "routes[1].name"},
		{"unknown listener", func(c *Config) { c.Routes[0].Listeners = []string{"x"} }, "routes[0].listeners[0]"},
		{"empty route audience", func(c *Config) { c.Routes[0].Authentication.Audiences = []string{" "} }, "routes[0].authentication.audiences[0]"},
		{"no backends", func(c *Config) { c.Routes[0].Backends = nil }, "routes[0].backends"},
		{"backend url", func(c *Config) { c.Routes[0].Backends[0].URL = "ftp://x" }, "routes[0].backends[0].url"},
		{"backend transport", func(c *Config) { c.Routes[0].Backends[0].Transport = "stdio" }, "routes[0].backends[0].transport"},
		{"session mode", func(c *Config) { c.Routes[0].Backends[0].SessionMode = "Sticky" }, "routes[0].backends[0].sessionMode"},
		{"bad glob", func(c *Config) { c.Routes[0].Backends[0].Tools.Include = []string{"["} }, "routes[0].backends[0].tools.include[0]"},
		{"rate requests", func(c *Config) { c.Routes[0].Policies.RateLimit = &RateLimit{} }, "routes[0].policies.rateLimit.requests"},
		{"per tool timeout", func(c *Config) {
			c.Routes[0].Policies.Timeouts.PerTool = map[string]Duration{"t": {}}
		}, "routes[0].policies.timeouts.perTool[t]"},
		{"secret header file", func(c *Config) {
			c.Routes[0].Policies.BackendAuth = BackendAuth{Type: BackendAuthSecretHeader}
		}, "routes[0].policies.backendAuth.file"},
		{"backend auth type", func(c *Config) {
			c.Routes[0].Policies.BackendAuth = BackendAuth{Type: "Magic"}
		}, "routes[0].policies.backendAuth.type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := validConfig()
			tt.mutate(c)
			c.SetDefaults()
			err := c.Validate()
			if err == nil {
				t.Fatal("Validate succeeded, want error")
			}
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("error %v is not a FieldError", err)
			}
			if !strings.Contains(err.Error(), tt.field+": ") {
				t.Errorf("error %q does not name field %q", err, tt.field)
			}
		})
	}
	t.Run("valid", func(t *testing.T) {
		c := validConfig()
		c.SetDefaults()
		if err := c.Validate(); err != nil {
			t.Fatalf("Validate: %v", err)
		}
	})
}

func TestParseRejects(t *testing.T) {
	tests := []struct {
		name, doc, want string
	}{
		{"unknown field", "apiVersion: " + APIVersion + "\nbogus: 1\n", `unknown field "bogus"`},
		{"bad duration", "apiVersion: " + APIVersion + "\nsession: {ttl: soon}\n", `parse duration "soon"`},
		{"not yaml", "{[", "decode config"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.doc))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Parse error = %v, want containing %q", err, tt.want)
			}
		})
	}
	t.Run("missing file", func(t *testing.T) {
		if _, err := Load(filepath.Join(t.TempDir(), "none.yaml")); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("Load error = %v, want not-exist", err)
		}
	})
}
