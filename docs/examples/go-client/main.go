// Command go-client shows how an application reads an Aitronos connection's
// OAuth access token from the C1 secrets engine with the Vault Go client, and
// calls the provider's API with it.
//
// The token is a Vault lease that ends when the token expires. The program
// wraps the read in an oauth2.TokenSource: golang.org/x/oauth2 adds the
// Authorization header to every request and reads the path again once the
// lease is about to end, so a long-running application never sends an
// expired token. It never prints the token.
//
// Usage (VAULT_ADDR and VAULT_TOKEN as for the vault CLI; the token's policy
// may read the path, see ../policies/c1-oauth-app.hcl):
//
//	go run ./docs/examples/go-client -connection ca_demo -path /user
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/hashicorp/vault/api"
	"golang.org/x/oauth2"
)

func main() {
	mount := flag.String("mount", "c1", "mount path of the C1 secrets engine")
	connection := flag.String("connection", "", "Aitronos connection id (required)")
	path := flag.String("path", "/user", "path of the provider API to call, under the connection's base_url")
	flag.Parse()
	if *connection == "" {
		fmt.Fprintln(os.Stderr, "go-client: -connection is required")
		os.Exit(2)
	}
	if err := run(context.Background(), *mount, *connection, *path); err != nil {
		fmt.Fprintln(os.Stderr, "go-client:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, mount, connection, path string) error {
	// DefaultConfig reads VAULT_ADDR, VAULT_CACERT and the like; NewClient
	// takes VAULT_TOKEN.
	vault, err := api.NewClient(api.DefaultConfig())
	if err != nil {
		return fmt.Errorf("vault client: %w", err)
	}
	src := &vaultTokenSource{ctx: ctx, vault: vault, path: mount + "/oauth/by-connection/" + connection}
	tok, err := src.Token()
	if err != nil {
		return err
	}
	// ReuseTokenSource serves tok until it is about to expire, then reads
	// the path again.
	client := oauth2.NewClient(ctx, oauth2.ReuseTokenSource(tok, src))

	url := strings.TrimSuffix(src.baseURL, "/") + path
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	for k, v := range src.extraHeaders {
		req.Header.Set(k, v)
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("GET %s: %w", url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	fmt.Printf("token for %s (%s) valid until %s\n", connection, src.appName, tok.Expiry.UTC().Format(time.RFC3339))
	fmt.Printf("GET %s: %s\n%s\n", url, resp.Status, body)
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return nil
}

// vaultTokenSource reads the OAuth token from Vault on each call. The token
// expires when the Vault lease ends.
type vaultTokenSource struct {
	ctx   context.Context
	vault *api.Client
	path  string

	// From the last read: where the provider's API is, and the headers it
	// needs besides Authorization.
	baseURL      string
	appName      string
	extraHeaders map[string]string
}

// Token implements oauth2.TokenSource.
func (s *vaultTokenSource) Token() (*oauth2.Token, error) {
	secret, err := s.vault.Logical().ReadWithContext(s.ctx, s.path)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", s.path, err)
	}
	if secret == nil || secret.Data == nil {
		return nil, errors.New("reading " + s.path + ": no such connection")
	}
	str := func(k string) string { v, _ := secret.Data[k].(string); return v }
	if str("access_token") == "" {
		return nil, errors.New("reading " + s.path + ": the answer has no access_token")
	}
	s.baseURL, s.appName = str("base_url"), str("app_name")
	s.extraHeaders = map[string]string{}
	if h, ok := secret.Data["extra_headers"].(map[string]any); ok {
		for k, v := range h {
			s.extraHeaders[k] = fmt.Sprint(v)
		}
	}
	return &oauth2.Token{
		AccessToken: str("access_token"),
		TokenType:   str("token_type"),
		Expiry:      time.Now().Add(time.Duration(secret.LeaseDuration) * time.Second),
	}, nil
}
