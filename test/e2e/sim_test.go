//go:build e2e

package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// sim is a running upstream simulator process (SIM_BIN) and a client of its
// control API under /_sim/.
type sim struct {
	t    *testing.T
	url  string // http://127.0.0.1:port
	proc *proc
	http *http.Client
}

// startSim starts the simulator on a free loopback port and waits until its
// control API answers.
func startSim(t *testing.T, dir string, args ...string) *sim {
	t.Helper()
	addrFile := filepath.Join(dir, "sim.addr")
	logPath := filepath.Join(dir, "sim.log")
	args = append([]string{"-listen", "127.0.0.1:0", "-addr-file", addrFile}, args...)
	p := startProc(t, "upstream-sim", logPath, cleanEnv(), simBin, args...)
	s := &sim{t: t, proc: p, http: &http.Client{Timeout: 10 * time.Second}}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if p.exited() {
			t.Fatalf("upstream-sim exited at start; log:\n%s", logTail(logPath, 40))
		}
		if b, err := os.ReadFile(addrFile); err == nil {
			addr := strings.TrimSpace(string(b))
			if addr != "" {
				if !strings.Contains(addr, "://") {
					addr = "http://" + addr
				}
				s.url = strings.TrimRight(addr, "/")
				var clock struct {
					Now string `json:"now"`
				}
				if err := s.try(http.MethodGet, "/_sim/clock", nil, &clock); err == nil && clock.Now != "" {
					return s
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("upstream-sim did not come up within 30s (addr file %s); log:\n%s", addrFile, logTail(logPath, 40))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// try calls the control API; out, if not nil, receives the JSON answer.
func (s *sim) try(method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, s.url+path, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := s.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		// Control API errors are {"error": "..."} and carry no secret.
		return fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, strings.TrimSpace(string(b)))
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("%s %s: answer is not the expected JSON: %v", method, path, err)
		}
	}
	return nil
}

// do is try that fails the test on error.
func (s *sim) do(method, path string, in, out any) {
	s.t.Helper()
	if err := s.try(method, path, in, out); err != nil {
		s.t.Fatalf("simulator control API: %v", err)
	}
}

// c1Client registers a C1 API client and returns its id and secret.
func (s *sim) c1Client(clientID string) (id, secret string) {
	s.t.Helper()
	var out struct {
		ClientID     string `json:"client_id"`
		ClientSecret string `json:"client_secret"`
	}
	s.do(http.MethodPost, "/_sim/c1/clients", map[string]string{"client_id": clientID}, &out)
	if out.ClientSecret == "" {
		s.t.Fatal("simulator: POST /_sim/c1/clients answered no client_secret")
	}
	return out.ClientID, out.ClientSecret
}

// connector makes a C1 connector known upstream.
func (s *sim) connector(appID, connectorID string) {
	s.t.Helper()
	s.do(http.MethodPost, "/_sim/c1/connectors", map[string]string{"app_id": appID, "connector_id": connectorID}, nil)
}

// simCredential is a credential as the control API lists it (no secret).
type simCredential struct {
	ID          string  `json:"id"`
	AppID       string  `json:"app_id"`
	ConnectorID string  `json:"connector_id"`
	ClientID    string  `json:"client_id"`
	CreatedAt   string  `json:"created_at"`
	ExpiresTime *string `json:"expires_time"`
	LastUsedAt  *string `json:"last_used_at"`
	Revoked     bool    `json:"revoked"`
	RevokedAt   *string `json:"revoked_at"`
	Live        bool    `json:"live"` // neither revoked nor expired when listed
}

// credentials lists a connector's credentials upstream, revoked ones included.
func (s *sim) credentials(appID, connectorID string) []simCredential {
	s.t.Helper()
	var out struct {
		Credentials []simCredential `json:"credentials"`
	}
	q := url.Values{"app_id": {appID}, "connector_id": {connectorID}}
	s.do(http.MethodGet, "/_sim/c1/credentials?"+q.Encode(), nil, &out)
	return out.Credentials
}

// credential is one credential upstream by id; it fails the test if unknown.
func (s *sim) credential(appID, connectorID, id string) simCredential {
	s.t.Helper()
	for _, c := range s.credentials(appID, connectorID) {
		if c.ID == id {
			return c
		}
	}
	s.t.Fatalf("simulator knows no credential %s of %s/%s", id, appID, connectorID)
	return simCredential{}
}

// setCredentialTTL sets the lifetime of the credentials created from now on.
func (s *sim) setCredentialTTL(d time.Duration) {
	s.t.Helper()
	s.do(http.MethodPut, "/_sim/c1/credential-ttl", map[string]string{"ttl": d.String()}, nil)
}

// inject adds a fault (fields as POST /_sim/faults takes them).
func (s *sim) inject(fault map[string]any) {
	s.t.Helper()
	s.do(http.MethodPost, "/_sim/faults", fault, nil)
}

// calls is how many requests reached each upstream operation.
func (s *sim) calls() map[string]int {
	s.t.Helper()
	var out map[string]int
	s.do(http.MethodGet, "/_sim/calls", nil, &out)
	return out
}

// valid reports whether a client id and secret authenticate upstream now.
func (s *sim) valid(clientID, clientSecret string) bool {
	s.t.Helper()
	var out struct {
		Valid bool `json:"valid"`
	}
	s.do(http.MethodPost, "/_sim/c1/validate", map[string]string{"client_id": clientID, "client_secret": clientSecret}, &out)
	return out.Valid
}

// aitronosKey registers an active Aitronos API key and returns it.
func (s *sim) aitronosKey() string {
	s.t.Helper()
	key := "ak_" + randAlnum(40)
	s.do(http.MethodPost, "/_sim/aitronos/keys", map[string]string{"key": key}, nil)
	return key
}

// aitronosConnection registers an ACTIVE OAuth connection whose access token
// expires at expiresAt, and returns the token.
func (s *sim) aitronosConnection(connectionID, credentialID string, expiresAt time.Time) string {
	s.t.Helper()
	return s.aitronosConnectionAt(connectionID, credentialID, "https://api.github.com", expiresAt)
}

// aitronosConnectionAt is aitronosConnection for a provider API at baseURL.
func (s *sim) aitronosConnectionAt(connectionID, credentialID, baseURL string, expiresAt time.Time) string {
	s.t.Helper()
	token := "ya29." + randAlnum(48)
	s.do(http.MethodPut, "/_sim/aitronos/connections", map[string]any{
		"connection_id": connectionID,
		"credential_id": credentialID,
		"status":        "ACTIVE",
		"app_name":      "github",
		"auth_scheme":   "OAUTH2",
		"account_email": "e2e@example.com",
		"access_token":  token,
		"refresh_token": "rt_" + randAlnum(32),
		"token_type":    "Bearer",
		"scope":         "repo read:org",
		"base_url":      baseURL,
		"expires_at":    expiresAt.UTC().Format(time.RFC3339),
	}, nil)
	return token
}

// simRoot is a root credential (an API client the engine logs in with) as
// the control API lists it: no secret.
type simRoot struct {
	Kind        string  `json:"kind"`
	ID          string  `json:"id"`
	ClientID    string  `json:"client_id"`
	DisplayName string  `json:"display_name"`
	UserID      string  `json:"user_id"`
	CreatedAt   string  `json:"created_at"`
	ExpiresTime *string `json:"expires_time"`
	LastUsedAt  *string `json:"last_used_at"`
	Deleted     bool    `json:"deleted"`
	DeletedAt   *string `json:"deleted_at"`
	Live        bool    `json:"live"` // neither deleted nor expired when listed
}

// personalClient registers a personal client created at created (the zero
// time: now) that expires life after its creation (0: never), and returns
// it with its secret.
func (s *sim) personalClient(clientID string, created time.Time, life time.Duration) (simRoot, string) {
	s.t.Helper()
	in := map[string]string{"client_id": clientID}
	if !created.IsZero() {
		in["created_at"] = created.UTC().Format(time.RFC3339)
	}
	if life > 0 {
		in["expires_in"] = life.String()
	}
	var out struct {
		simRoot
		ClientSecret string `json:"client_secret"`
	}
	s.do(http.MethodPost, "/_sim/c1/clients", in, &out)
	if out.ClientSecret == "" || out.ID == "" {
		s.t.Fatal("simulator: POST /_sim/c1/clients answered no id or client_secret")
	}
	return out.simRoot, out.ClientSecret
}

// tryRootCredentials lists every root credential upstream, deleted ones
// included, in creation order.
func (s *sim) tryRootCredentials() ([]simRoot, error) {
	var out struct {
		Roots []simRoot `json:"root_credentials"`
	}
	err := s.try(http.MethodGet, "/_sim/c1/root-credentials", nil, &out)
	return out.Roots, err
}

// rootCredential is one root credential upstream by id, or by client id
// when byClientID; it fails the test if unknown.
func (s *sim) rootCredential(key string, byClientID bool) simRoot {
	s.t.Helper()
	q := url.Values{"id": {key}}
	if byClientID {
		q = url.Values{"client_id": {key}}
	}
	var out simRoot
	s.do(http.MethodGet, "/_sim/c1/root-credentials/find?"+q.Encode(), nil, &out)
	return out
}
