package controller

import (
	"encoding/json"
	"fmt"
)

// convert turns a core API value into the apply configuration of the same shape. Both sides are
// generated from the same OpenAPI schema, so a JSON round trip is exact; a failure is a bug.
func convert[T any](in any) *T {
	b, err := json.Marshal(in)
	if err != nil {
		panic(fmt.Sprintf("marshal %T: %v", in, err))
	}
	out := new(T)
	if err := json.Unmarshal(b, out); err != nil {
		panic(fmt.Sprintf("unmarshal %T into %T: %v", in, out, err))
	}
	return out
}

// mergeJSON overlays the fields set in override onto base, field by field.
func mergeJSON(base, override any) {
	b, err := json.Marshal(override)
	if err != nil {
		panic(fmt.Sprintf("marshal %T: %v", override, err))
	}
	if err := json.Unmarshal(b, base); err != nil {
		panic(fmt.Sprintf("unmarshal %T into %T: %v", override, base, err))
	}
}
