// Package ir defines the versioned, validated data-plane configuration that the gateway serves.
package ir
