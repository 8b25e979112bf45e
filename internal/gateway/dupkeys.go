package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// checkDuplicateKeys refuses a message whose top-level object or params object repeats a key.
// Parsers disagree on which duplicate wins, so a body such as {"name":"allowed","name":"other"}
// could be authorized as one tool and executed as another. The body must be valid JSON.
func checkDuplicateKeys(body []byte) error {
	params, err := objectKeys(bytes.TrimSpace(body), "params")
	if err != nil {
		return err
	}
	if params != nil {
		if _, err := objectKeys(params, ""); err != nil {
			return fmt.Errorf("params: %w", err)
		}
	}
	return nil
}

// objectKeys scans one JSON object, fails on a repeated key, and returns the raw value of the
// wanted key when it is an object.
func objectKeys(b []byte, want string) ([]byte, error) {
	if len(b) == 0 || b[0] != '{' {
		return nil, nil
	}
	seen := make(map[string]struct{}, 8)
	var found []byte
	i := skipSpace(b, 1)
	if i < len(b) && b[i] == '}' {
		return nil, nil
	}
	for i < len(b) {
		key, end, err := readKey(b, i)
		if err != nil {
			return nil, err
		}
		if _, dup := seen[key]; dup {
			return nil, fmt.Errorf("duplicate key %q", key)
		}
		seen[key] = struct{}{}
		i = skipSpace(b, end)
		if i >= len(b) || b[i] != ':' {
			return nil, errors.New("malformed object")
		}
		start := skipSpace(b, i+1)
		stop := skipValue(b, start)
		if stop < 0 {
			return nil, errors.New("malformed value")
		}
		if key == want && b[start] == '{' {
			found = b[start:stop]
		}
		i = skipSpace(b, stop)
		if i < len(b) && b[i] == ',' {
			i = skipSpace(b, i+1)
			continue
		}
		break
	}
	return found, nil
}

// readKey reads the object key starting at b[i], unescaped, and the index after it.
func readKey(b []byte, i int) (string, int, error) {
	end := skipString(b, i)
	if end < 0 {
		return "", 0, errors.New("malformed object key")
	}
	var key string
	if err := json.Unmarshal(b[i:end], &key); err != nil {
		return "", 0, fmt.Errorf("malformed object key: %w", err)
	}
	return key, end, nil
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipString returns the index after the string starting at b[i], or -1.
func skipString(b []byte, i int) int {
	if i >= len(b) || b[i] != '"' {
		return -1
	}
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}
	return -1
}

// skipValue returns the index after the JSON value starting at b[i], or -1.
func skipValue(b []byte, i int) int {
	switch {
	case i >= len(b):
		return -1
	case b[i] == '"':
		return skipString(b, i)
	case b[i] == '{' || b[i] == '[':
		return skipNested(b, i)
	}
	for i < len(b) && !isDelimiter(b[i]) {
		i++
	}
	return i
}

func isDelimiter(c byte) bool {
	switch c {
	case ',', '}', ']', ' ', '\n', '\t', '\r':
		return true
	}
	return false
}

// skipNested returns the index after the object or array starting at b[i], or -1.
func skipNested(b []byte, i int) int {
	depth := 0
	for j := i; j < len(b); j++ {
		switch b[j] {
		case '"':
			end := skipString(b, j)
			if end < 0 {
				return -1
			}
			j = end - 1
		case '{', '[':
			depth++
		case '}', ']':
			depth--
			if depth == 0 {
				return j + 1
			}
		}
	}
	return -1
}
