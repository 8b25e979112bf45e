// Package session seals gateway session state into client-facing session ids that any replica holding the key can open.
package session
