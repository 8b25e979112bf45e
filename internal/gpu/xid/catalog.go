package xid

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"sort"
)

//go:embed catalog.json
var catalogJSON []byte

// Entry is one row of NVIDIA's Xid catalogue.
type Entry struct {
	// Code is the Xid number.
	Code int `json:"code"`
	// Mnemonic is NVIDIA's symbolic name for the Xid.
	Mnemonic string `json:"mnemonic"`
	// Description is a short description of the condition.
	Description string `json:"description"`
	// AppliesTo lists the GPU products the catalogue says can report the Xid.
	AppliesTo []string `json:"applies_to"`
	// ImmediateAction is NVIDIA's immediate resolution bucket, such as RESTART_APP or RESET_GPU.
	ImmediateAction string `json:"immediate_action"`
	// InvestigatoryAction is NVIDIA's investigatory resolution bucket.
	InvestigatoryAction string `json:"investigatory_action"`
}

// Catalog is NVIDIA's Xid catalogue with the provenance of the copy.
type Catalog struct {
	// Source is the address the catalogue was transcribed from.
	Source string `json:"source"`
	// Title names the table transcribed.
	Title string `json:"title"`
	// Version records when the copy was taken and the newest driver it mentions.
	Version string `json:"version"`
	// Notes describes what was transcribed and what was left out.
	Notes string `json:"notes"`
	// Entries are the catalogue rows ordered by code.
	Entries []Entry `json:"entries"`

	byCode map[int]Entry
}

// Load parses the embedded catalogue.
func Load() (*Catalog, error) {
	return Parse(catalogJSON)
}

// Parse parses a catalogue in the embedded file's format.
func Parse(data []byte) (*Catalog, error) {
	var c Catalog
	if err := json.Unmarshal(data, &c); err != nil {
		return nil, fmt.Errorf("parse xid catalogue: %w", err)
	}
	if c.Source == "" || c.Version == "" {
		return nil, fmt.Errorf("xid catalogue lacks its source or version")
	}
	c.byCode = make(map[int]Entry, len(c.Entries))
	for _, e := range c.Entries {
		if _, dup := c.byCode[e.Code]; dup {
			return nil, fmt.Errorf("xid catalogue lists code %d twice", e.Code)
		}
		c.byCode[e.Code] = e
	}
	sort.Slice(c.Entries, func(i, j int) bool { return c.Entries[i].Code < c.Entries[j].Code })
	return &c, nil
}

// MustLoad parses the embedded catalogue and panics if it is malformed; the file is checked by tests.
func MustLoad() *Catalog {
	c, err := Load()
	if err != nil {
		panic(err)
	}
	return c
}

// Lookup returns the catalogue entry for an Xid code.
func (c *Catalog) Lookup(code int) (Entry, bool) {
	e, ok := c.byCode[code]
	return e, ok
}
