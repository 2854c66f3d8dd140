package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func postJSON(t *testing.T, u string, body string) map[string]any {
	t.Helper()
	res, err := http.Post(u, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var out map[string]any
	b, _ := io.ReadAll(res.Body)
	_ = json.Unmarshal(b, &out)
	if res.StatusCode != 200 {
		t.Fatalf("POST %s: %d %s", u, res.StatusCode, b)
	}
	return out
}

func TestRunServesLogsAndStops(t *testing.T) {
	addrFile := filepath.Join(t.TempDir(), "addr")
	logs := &syncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	urlc := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-addr-file", addrFile, "-credential-ttl", "4m", "-token-ttl", "10m",
			"-aitronos-rate-limit", "0"}, logs, func(u string) { urlc <- u })
	}()
	var base string
	select {
	case base = <-urlc:
	case err := <-done:
		t.Fatal(err)
	}
	b, err := os.ReadFile(addrFile)
	if err != nil || strings.TrimSpace(string(b)) != base || !strings.HasPrefix(base, "http://127.0.0.1:") {
		t.Fatalf("addr file %q (%v), base %q", b, err, base)
	}

	// Admin API on, flags applied.
	secret := postJSON(t, base+"/_sim/c1/clients", `{"client_id":"c@h/spc"}`)["client_secret"].(string)
	postJSON(t, base+"/_sim/c1/connectors", `{"app_id":"a","connector_id":"c"}`)
	postJSON(t, base+"/_sim/c1/service-principals", `{"id":"sp"}`)
	spc := postJSON(t, base+"/_sim/c1/service-principal-credentials", `{"service_principal_id":"sp","client_id":"r@h/spc","expires_in":"1h"}`)
	spSecret, _ := spc["client_secret"].(string)
	if spc["kind"] != "service_principal_credential" || spSecret == "" {
		t.Fatalf("service-principal credential %v", spc)
	}
	res, err := http.PostForm(base+"/auth/v1/token?x=1", url.Values{
		"grant_type": {"client_credentials"}, "client_id": {"c@h/spc"}, "client_secret": {secret},
	})
	if err != nil {
		t.Fatal(err)
	}
	var tok map[string]any
	_ = json.NewDecoder(res.Body).Decode(&tok)
	res.Body.Close()
	if res.StatusCode != 200 || tok["expires_in"] != float64(600) {
		t.Fatalf("token %d %v", res.StatusCode, tok)
	}
	at := tok["access_token"].(string)
	req, _ := http.NewRequest(http.MethodPost, base+"/api/v1/apps/connectors/credentials",
		strings.NewReader(`{"appId":"a","connectorId":"c"}`))
	req.Header.Set("Authorization", "Bearer "+at)
	res, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var rot map[string]any
	_ = json.NewDecoder(res.Body).Decode(&rot)
	res.Body.Close()
	cred, _ := rot["credential"].(map[string]any)
	created, _ := time.Parse(time.RFC3339Nano, cred["createdAt"].(string))
	expires, _ := time.Parse(time.RFC3339Nano, cred["expiresTime"].(string))
	if expires.Sub(created) != 4*time.Minute {
		t.Fatalf("credential ttl flag: %v", rot)
	}
	newSecret := cred["clientSecret"].(string)

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run: %v", err)
		}
	case <-time.After(30 * time.Second): // failsafe only
		t.Fatal("no clean shutdown")
	}
	if _, err := os.Stat(addrFile); !os.IsNotExist(err) {
		t.Fatal("addr file left behind")
	}

	out := logs.String()
	for _, s := range []string{secret, at, newSecret, spSecret, "x=1", "client_secret", "appId"} {
		if strings.Contains(out, s) {
			t.Fatalf("log leaks %q:\n%s", s, out)
		}
	}
	for _, s := range []string{`POST "/auth/v1/token" 200`, `POST "/api/v1/apps/connectors/credentials" 200`, "listening on " + base} {
		if !strings.Contains(out, s) {
			t.Fatalf("log lacks %q:\n%s", s, out)
		}
	}
}

func TestRunRefusesNonLoopback(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:0", ":0", "192.0.2.1:8080", "[::]:0", "example.com:80", "nonsense"} {
		err := run(context.Background(), []string{"-listen", addr}, io.Discard, nil)
		if err == nil {
			t.Fatalf("%s accepted", addr)
		}
	}
	for _, addr := range []string{"127.0.0.1:0", "[::1]:0", "localhost:0"} {
		if err := checkLoopback(addr); err != nil {
			t.Errorf("%s refused: %v", addr, err)
		}
	}
	if err := run(context.Background(), []string{"-token-ttl", "0s"}, io.Discard, nil); err == nil {
		t.Fatal("zero token TTL accepted")
	}
}
