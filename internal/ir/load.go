package ir

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"time"

	"sigs.k8s.io/yaml"
)

// Defaults applied by SetDefaults.
const (
	DefaultMaxRequestBytes = 1 << 20
	DefaultMaxJSONDepth    = 64
	DefaultRequestTimeout  = 60 * time.Second
	DefaultSessionTTL      = 24 * time.Hour
	DefaultRateMaxKeys     = 100000
	DefaultRateIdle        = 10 * time.Minute
	DefaultConfirmTimeout  = 2 * time.Minute
	DefaultFanoutTimeout   = 10 * time.Second
)

// Parse decodes a YAML or JSON configuration, rejecting unknown fields, then defaults and validates it.
func Parse(data []byte) (*Config, error) {
	js, err := yaml.YAMLToJSON(data)
	if err != nil {
		return nil, fmt.Errorf("decode config: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.DisallowUnknownFields()
	var c Config
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("decode config: %w", err)
	}
	c.SetDefaults()
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("invalid config: %w", err)
	}
	return &c, nil
}

// Load reads, defaults and validates the configuration file at path.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	c, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", path, err)
	}
	return c, nil
}

// SetDefaults fills unset optional fields with their documented defaults.
func (c *Config) SetDefaults() {
	if c.Session.TTL.Duration == 0 {
		c.Session.TTL.Duration = DefaultSessionTTL
	}
	for i := range c.Routes {
		c.Routes[i].setDefaults()
	}
}

// setDefaults fills the unset optional fields of one route.
func (r *Route) setDefaults() {
	for j := range r.Backends {
		if r.Backends[j].Transport == "" {
			r.Backends[j].Transport = TransportStreamableHTTP
		}
		if r.Backends[j].SessionMode == "" {
			r.Backends[j].SessionMode = SessionStateful
		}
	}
	r.Policies.setDefaults()
}

// setDefaults fills the unset optional fields of a route's policies.
func (p *RoutePolicies) setDefaults() {
	if p.Limits.MaxRequestBytes == 0 {
		p.Limits.MaxRequestBytes = DefaultMaxRequestBytes
	}
	if p.Limits.MaxJSONDepth == 0 {
		p.Limits.MaxJSONDepth = DefaultMaxJSONDepth
	}
	if p.Timeouts.Request.Duration == 0 {
		p.Timeouts.Request.Duration = DefaultRequestTimeout
	}
	if p.Timeouts.Fanout.Duration == 0 {
		p.Timeouts.Fanout.Duration = DefaultFanoutTimeout
	}
	if p.BackendAuth.Type == "" {
		p.BackendAuth.Type = BackendAuthNone
	}
	if p.BackendAuth.Type == BackendAuthSecretHeader && p.BackendAuth.Header == "" {
		p.BackendAuth.Header = "Authorization"
	}
	if rl := p.RateLimit; rl != nil {
		if rl.MaxKeys == 0 {
			rl.MaxKeys = DefaultRateMaxKeys
		}
		if rl.IdleTimeout.Duration == 0 {
			rl.IdleTimeout.Duration = DefaultRateIdle
		}
	}
	if cf := p.Confirmation; cf != nil && cf.Timeout.Duration == 0 {
		cf.Timeout.Duration = DefaultConfirmTimeout
	}
}
