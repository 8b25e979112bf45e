package main

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"flag"
	"log"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/coreos/go-oidc/v3/oidc/oidctest"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "loopback address to serve the issuer on")
	audience := flag.String("audience", "", "aud claim of the token")
	tokenFile := flag.String("token-file", "", "where to write the signed token")
	urlFile := flag.String("url-file", "", "where to write the issuer URL")
	sub := flag.String("sub", "peer-test", "sub claim of the token")
	groups := flag.String("groups", "", "comma-separated groups claim of the token")
	flag.Parse()
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		log.Fatal(err)
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	issuer := "http://" + ln.Addr().String()
	s := &oidctest.Server{PublicKeys: []oidctest.PublicKey{{PublicKey: priv.Public(), KeyID: "peer", Algorithm: oidc.RS256}}}
	s.SetIssuer(issuer)
	claims, _ := json.Marshal(map[string]any{"iss": issuer, "aud": *audience, "sub": *sub,
		"groups": strings.Split(*groups, ","), "iat": time.Now().Unix(), "exp": time.Now().Add(time.Hour).Unix()})
	tok := oidctest.SignIDToken(priv, "peer", oidc.RS256, string(claims))
	if err := os.WriteFile(*tokenFile, []byte(tok), 0o600); err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile(*urlFile, []byte(issuer), 0o600); err != nil {
		log.Fatal(err)
	}
	srv := &http.Server{Handler: s, ReadHeaderTimeout: 5 * time.Second}
	log.Fatal(srv.Serve(ln))
}
