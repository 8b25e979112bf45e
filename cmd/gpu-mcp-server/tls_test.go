package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// writeCA writes a CA and a serving certificate for name into dir and returns the CA's path.
func writeCA(t *testing.T, dir, name string) (ca, cert, key string) {
	t.Helper()
	caKey := ok(ecdsa.GenerateKey(elliptic.P256(), rand.Reader))
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test agents CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER := ok(x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey))
	leafKey := ok(ecdsa.GenerateKey(elliptic.P256(), rand.Reader))
	leafTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: name}, DNSNames: []string{name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	leafDER := ok(x509.CreateCertificate(rand.Reader, leafTmpl, ok(x509.ParseCertificate(caDER)), &leafKey.PublicKey, caKey))
	keyDER := ok(x509.MarshalECPrivateKey(leafKey))
	write := func(file, typ string, der []byte) string {
		p := filepath.Join(dir, file)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	return write("ca.pem", "CERTIFICATE", caDER), write("tls.crt", "CERTIFICATE", leafDER), write("tls.key", "EC PRIVATE KEY", keyDER)
}

func TestAgentOverTLS(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	ca, cert, key := writeCA(t, dir, "gpu-mcp-agent.toolmesh-system.svc")
	otherCA, _, _ := writeCA(t, t.TempDir(), "gpu-mcp-agent.toolmesh-system.svc")
	registerAgent(t, "dgx-tls", start(t, "--role=agent", "--nvml=fake:healthy", "--tls-cert-file="+cert, "--tls-key-file="+key))

	tests := []struct {
		name    string
		args    []string
		want    string
		isError bool
	}{
		{"trusted CA", []string{"--agent-ca-file=" + ca}, `"name":"NVIDIA H100 80GB HBM3"`, false},
		{"another CA", []string{"--agent-ca-file=" + otherCA}, "certificate signed by unknown authority", true},
		{"wrong server name", []string{"--agent-ca-file=" + ca, "--agent-tls-server-name=evil.example"}, "certificate is valid for gpu-mcp-agent.toolmesh-system.svc", true},
		{"plain HTTP to a TLS agent", nil, "agent on dgx-tls", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			server := start(t, append([]string{"--role=server", "--agent-token-file=" + tokenFile}, tt.args...)...)
			cs := ok(mcp.NewClient(&mcp.Implementation{Name: "e2e"}, nil).Connect(ctx, &mcp.StreamableClientTransport{Endpoint: "http://" + server + "/mcp"}, nil))
			defer func() { _ = cs.Close() }()
			res := ok(cs.CallTool(ctx, &mcp.CallToolParams{Name: "get_gpu_inventory", Arguments: map[string]any{"node": "dgx-tls"}}))
			text := ""
			if res.IsError {
				text = res.Content[0].(*mcp.TextContent).Text
			} else {
				text = string(ok(json.Marshal(res.StructuredContent)))
			}
			if res.IsError != tt.isError || !strings.Contains(text, tt.want) {
				t.Fatalf("isError=%v text=%.300s; want %q", res.IsError, text, tt.want)
			}
		})
	}
}
