//go:build e2e

package e2e

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"
)

// TestOperatorExamples applies the ACL policies of docs/examples/policies as
// they are on disk and checks, with a token of each, what is allowed and what
// is refused; reads the metrics path after a rotation; and runs the Go client
// example of docs/examples/go-client against the engine.
func TestOperatorExamples(t *testing.T) {
	t.Parallel()
	root := moduleRoot(t)
	examples := filepath.Join(root, "docs", "examples")

	// Build the Go client example while Vault starts.
	clientBin := filepath.Join(t.TempDir(), "go-client")
	built := make(chan error, 1)
	go func() {
		cmd := exec.Command("go", "build", "-o", clientBin, "./docs/examples/go-client")
		cmd.Dir = root
		out, err := cmd.CombinedOutput()
		if err != nil {
			err = errors.New(err.Error() + ": " + string(out))
		}
		built <- err
	}()

	e := newEnv(t, envOptions{config: map[string]any{}})
	v := e.v
	// The connectors the example policies name, and one of another app.
	e.register("app-123", "conn-456")
	e.register("app-123", "conn-789")
	e.register("app-999", "conn-1")
	credID := str(v.read(mountPath+"/rotate/app-123/conn-456"), "current_credential_id")

	// ---- every policy file, written with the CLI from disk ----
	files, err := filepath.Glob(filepath.Join(examples, "policies", "*.hcl"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no policy files in %s (%v)", examples, err)
	}
	tokens := map[string]string{}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".hcl")
		v.cli("policy", "write", name, f)
		s, err := v.api.Auth().Token().Create(&api.TokenCreateRequest{Policies: []string{name}, TTL: "30m"})
		if err != nil || s.Auth == nil {
			t.Fatalf("token with policy %s: %v", name, err)
		}
		tokens[name] = s.Auth.ClientToken
	}
	for _, want := range []string{"c1-admin", "c1-consumer", "c1-agent", "c1-oauth-app", "c1-metrics", "c1-root-rotator"} {
		if tokens[want] == "" {
			t.Fatalf("docs/examples/policies has no %s.hcl", want)
		}
	}
	clientFor := func(policy string) *api.Client {
		c, err := v.api.Clone()
		if err != nil {
			t.Fatal(err)
		}
		c.SetToken(tokens[policy])
		return c
	}

	// ---- metrics after a rotation, scraped as Prometheus does ----
	e.sim.aitronosConnection("ca_other", "cred_other", time.Now().Add(time.Hour))
	v.cli("write", "-f", mountPath+"/rotate/app-123/conn-456")
	status, body := scrapeMetrics(t, v.addr, "Authorization", "Bearer "+tokens["c1-metrics"])
	if status != http.StatusOK {
		t.Fatalf("metrics with the c1-metrics token: status %d: %s", status, body)
	}
	for _, line := range []string{
		`c1_credential_rotations_total{connector="app-123/conn-456"} 2`,
		`c1_credential_rotations_total{connector="app-999/conn-1"} 1`,
		`c1_upstream_requests_total{endpoint="c1 rotate credential",status="200"} 4`,
		`c1_upstream_request_duration_seconds_count{endpoint="c1 rotate credential"} 4`,
		`c1_connectors_managed 3`,
		`c1_credential_earliest_expiry_seconds `,
	} {
		if !strings.Contains(body, line) {
			t.Errorf("the metrics lack %q:\n%s", line, body)
		}
	}
	for what, header := range map[string][2]string{
		"no token":           {"", ""},
		"a consumer token":   {"X-Vault-Token", tokens["c1-consumer"]},
		"an agent token":     {"X-Vault-Token", tokens["c1-agent"]},
		"an oauth-app token": {"Authorization", "Bearer " + tokens["c1-oauth-app"]},
	} {
		if status, _ := scrapeMetrics(t, v.addr, header[0], header[1]); status != http.StatusForbidden {
			t.Errorf("metrics with %s: status %d, want 403", what, status)
		}
	}

	// ---- allowed and refused, per policy ----
	type access struct {
		op, path string
		allowed  bool
	}
	creds := func(app, conn string) string { return mountPath + "/creds/" + app + "/" + conn }
	checks := map[string][]access{
		"c1-consumer": {
			{"read", creds("app-123", "conn-456"), true},
			{"write", creds("app-123", "conn-456"), false},  // register / change overrides
			{"write", creds("app-123", "conn-new"), false},  // register another
			{"delete", creds("app-123", "conn-456"), false}, // deregister
			{"write", mountPath + "/rotate/app-123/conn-456", false},
			{"read", mountPath + "/rotate/app-123/conn-456", false},
			{"read", mountPath + "/config", false},
			{"write", mountPath + "/config", false},
			{"read", creds("app-123", "conn-789"), false},
			{"read", creds("app-999", "conn-1"), false},
			{"list", mountPath + "/creds", false},
			{"read", creds("app-123", "conn-456") + "/" + credID, false},
			{"read", mountPath + "/oauth/by-connection/ca_other", false},
			{"write", mountPath + "/config/rotate-root", false},
		},
		"c1-root-rotator": {
			{"write", mountPath + "/config/rotate-root", true},
			{"read", mountPath + "/config", true},
			{"write", mountPath + "/config", false},
			{"read", creds("app-123", "conn-456"), false},
			{"write", mountPath + "/rotate/app-123/conn-456", false},
			{"list", mountPath + "/creds", false},
		},
		"c1-agent": {
			{"read", creds("app-123", "conn-456"), true},
			{"read", creds("app-123", "conn-789"), true},
			{"read", creds("app-999", "conn-1"), false},
			{"write", creds("app-123", "conn-456"), false},
			{"write", mountPath + "/rotate/app-123/conn-789", false},
			{"read", creds("app-123", "conn-456") + "/" + credID, false},
			{"delete", creds("app-123", "conn-456") + "/" + credID, false},
			{"read", mountPath + "/config", false},
			{"list", mountPath + "/creds", false},
		},
		"c1-oauth-app": {
			{"read", mountPath + "/oauth/by-connection/ca_other", false},
			{"read", creds("app-123", "conn-456"), false},
			{"read", mountPath + "/config", false},
		},
		"c1-metrics": {
			{"read", creds("app-123", "conn-456"), false},
			{"read", mountPath + "/config", false},
		},
		"c1-admin": {
			{"read", mountPath + "/config", true},
			{"write", mountPath + "/config", true},
			{"list", mountPath + "/creds", true},
			{"read", creds("app-123", "conn-456"), true},
			{"read", creds("app-123", "conn-456") + "/" + credID, true},
			{"write", mountPath + "/rotate/app-123/conn-789", true},
			{"read", mountPath + "/rotate/app-123/conn-789", true},
			{"delete", creds("app-999", "conn-1"), true},
			{"read", "sys/mounts/" + mountPath + "/tune", true},
			{"write", mountPath + "/config/rotate-root", true},
			{"read", "sys/policies/acl/c1-admin", false},
		},
	}
	for policy, list := range checks {
		c := clientFor(policy)
		for _, a := range list {
			var err error
			switch a.op {
			case "read":
				_, err = c.Logical().Read(a.path)
			case "write":
				data := map[string]any{}
				if strings.HasSuffix(a.path, "/config") {
					data["max_retries"] = 2
				}
				_, err = c.Logical().Write(a.path, data)
			case "list":
				_, err = c.Logical().List(a.path)
			case "delete":
				_, err = c.Logical().Delete(a.path)
			}
			var re *api.ResponseError
			denied := errors.As(err, &re) && re.StatusCode == http.StatusForbidden
			switch {
			case a.allowed && err != nil:
				t.Errorf("%s: %s %s: want allowed, got %v", policy, a.op, a.path, err)
			case !a.allowed && !denied:
				t.Errorf("%s: %s %s: want a 403, got %v", policy, a.op, a.path, err)
			}
		}
	}
	// A refused register created nothing upstream.
	if got := e.sim.credentials("app-123", "conn-new"); len(got) != 0 {
		t.Errorf("a refused register reached the upstream: %+v", got)
	}

	// ---- the Go client example, with a token of c1-oauth-app ----
	provider := &providerAPI{}
	srv := httptest.NewServer(provider)
	defer srv.Close()
	provider.token = e.sim.aitronosConnectionAt("ca_demo", "cred_demo", srv.URL, time.Now().Add(time.Hour))
	if err := <-built; err != nil {
		t.Fatalf("building docs/examples/go-client: %v", err)
	}
	cmd := exec.Command(clientBin, "-connection", "ca_demo", "-path", "/user")
	cmd.Env = cleanEnv("VAULT_ADDR="+v.addr, "VAULT_TOKEN="+tokens["c1-oauth-app"])
	out, err := cmd.CombinedOutput()
	if strings.Contains(string(out), provider.token) {
		t.Fatal("the Go client example printed the access token")
	}
	if err != nil || !strings.Contains(string(out), "GET "+srv.URL+"/user: 200 OK") {
		t.Fatalf("go-client: %v:\n%s", err, out)
	}
	if n := provider.ok.Load(); n != 1 {
		t.Errorf("the provider API saw %d requests with the connection's token, want 1", n)
	}
	t.Logf("go-client:\n%s", out)

	// ---- Vault events: this edition has no event system, and sending one
	// is a no-op that never fails a rotation (the plugin logs at debug, which
	// the server's log shows, any other failure to send).
	vaultLog, err := os.ReadFile(v.logPath)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(vaultLog), "sending a Vault event failed") {
		t.Errorf("the engine failed to send a Vault event; vault log:\n%s", logTail(v.logPath, 20))
	}
	// The engine's own lines reach the server's log, with their keys (in
	// any order: Vault re-encodes them).
	rotated := false
	for _, line := range strings.Split(string(vaultLog), "\n") {
		if strings.Contains(line, "[INFO]") && strings.Contains(line, "connector credential rotated:") &&
			strings.Contains(line, " connector=app-123/conn-456") && strings.Contains(line, " credential_id=") {
			rotated = true
		}
	}
	if !rotated {
		t.Errorf("the server's log lacks the engine's INFO line of the rotation:\n%s", logTail(v.logPath, 20))
	}

	// ---- the systemd unit's command line, with the c1-agent role ----
	runBatonUnit(t, e, filepath.Join(examples, "systemd", "baton-okta.service"), tokens["c1-agent"])
}

// runBatonUnit runs the ExecStart of the systemd unit at unitPath as systemd
// would, with the unit's Environment, the suite's vault binary and stand-ins
// for the files under /etc/baton-okta/ (Agent logs in with token, and its exec
// block starts a shell in place of baton-okta). It checks that the connector
// starts with the credential of app-123/conn-456 in its environment, and
// that the unit's KillSignal stops Agent and the connector.
func runBatonUnit(t *testing.T, e *c1env, unitPath, token string) {
	t.Helper()
	unit := parseUnit(t, unitPath)
	argv := strings.Fields(unit["ExecStart"][0])
	if len(argv) < 3 || argv[0] != "/usr/local/bin/vault" || argv[1] != "agent" {
		t.Fatalf("%s: ExecStart is not /usr/local/bin/vault agent ...: %v", unitPath, argv)
	}
	dir := filepath.Join(e.dir, "baton-unit")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	tokenFile := filepath.Join(dir, "token")
	out := filepath.Join(dir, "connector.env")
	pidFile := filepath.Join(dir, "connector.pid")
	standIns := map[string]string{
		"agent.hcl": agentTokenAuth(tokenFile),
		"connector.hcl": fmt.Sprintf(`
env_template "BATON_CLIENT_ID" {
  contents             = "{{ with secret \"c1/creds/app-123/conn-456\" }}{{ .Data.client_id }}{{ end }}"
  error_on_missing_key = true
}
exec {
  command                   = ["/bin/sh", "-c", "echo $$ > %s; echo BATON_CLIENT_ID=$BATON_CLIENT_ID > %s.tmp; mv %s.tmp %s; exec sleep 600"]
  restart_on_secret_changes = "always"
  restart_stop_signal       = "SIGTERM"
}
`, pidFile, out, out, out),
	}
	if err := os.WriteFile(tokenFile, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	args := argv[1:]
	for i, a := range args {
		name, path, ok := strings.Cut(a, "=")
		if !ok || name != "-config" {
			continue
		}
		if !strings.HasPrefix(path, "/etc/baton-okta/") || standIns[filepath.Base(path)] == "" {
			t.Fatalf("%s: ExecStart reads %s, which this test has no stand-in for", unitPath, path)
		}
		local := filepath.Join(dir, filepath.Base(path))
		if err := os.WriteFile(local, []byte(standIns[filepath.Base(path)]), 0o600); err != nil {
			t.Fatal(err)
		}
		args[i] = "-config=" + local
	}
	var env []string
	for _, kv := range unit["Environment"] {
		if !strings.HasPrefix(kv, "VAULT_ADDR=") {
			env = append(env, kv)
		}
	}
	logPath := filepath.Join(dir, "agent.log")
	agent := startProc(t, "vault agent (baton-okta.service)", logPath, cleanEnv(append(env, "VAULT_ADDR="+e.v.addr)...), vaultBin, args...)

	want := e.readCreds("app-123", "conn-456").clientID
	waitFor(t, "the connector started with its credential", 60*time.Second, 200*time.Millisecond, func() (bool, string) {
		b, err := os.ReadFile(out)
		if err != nil {
			return false, "no connector yet; agent log: " + logTail(logPath, 3)
		}
		return strings.TrimSpace(string(b)) == "BATON_CLIENT_ID="+want, "connector env: " + string(b)
	})

	// systemctl stop: the unit's KillSignal to Agent, which stops the connector.
	if sig := unit["KillSignal"]; len(sig) != 1 || sig[0] != "SIGTERM" {
		t.Fatalf("%s: KillSignal %v, want SIGTERM", unitPath, sig)
	}
	b, _ := os.ReadFile(pidFile)
	child, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatalf("connector pid: %v", err)
	}
	_ = syscall.Kill(agent.pid(), syscall.SIGTERM)
	select {
	case <-agent.done:
	case <-time.After(30 * time.Second):
		t.Fatalf("vault agent did not stop within the unit's TimeoutStopSec; log:\n%s", logTail(logPath, 20))
	}
	waitFor(t, "the connector stopped with Agent", 10*time.Second, 100*time.Millisecond, func() (bool, string) {
		for _, st := range procStats() {
			if st.pid == child && st.state != "Z" {
				return false, "connector still running"
			}
		}
		return true, ""
	})
}

// parseUnit reads a systemd unit file into its keys and their values, in
// order (sections are not told apart: the keys used here are unique).
func parseUnit(t *testing.T, path string) map[string][]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string][]string{}
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, "[") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("%s: not a key=value line: %q", path, line)
		}
		keys[k] = append(keys[k], v)
	}
	return keys
}

// scrapeMetrics GETs the metrics path with one header (none when name is
// empty) and returns the status and body.
func scrapeMetrics(t *testing.T, addr, name, value string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, addr+"/v1/"+mountPath+"/metrics", nil)
	if err != nil {
		t.Fatal(err)
	}
	if name != "" {
		req.Header.Set(name, value)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET metrics: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == http.StatusOK && !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain; version=0.0.4") {
		t.Errorf("metrics content type %q", resp.Header.Get("Content-Type"))
	}
	return resp.StatusCode, string(body)
}

// providerAPI stands in for the provider an OAuth token is for: it answers
// 200 to a request that carries the token, 401 to any other.
type providerAPI struct {
	token string
	ok    atomic.Int32
}

func (p *providerAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != "Bearer "+p.token || r.URL.Path != "/user" {
		http.Error(w, `{"message":"Bad credentials"}`, http.StatusUnauthorized)
		return
	}
	p.ok.Add(1)
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, `{"login":"e2e"}`)
}
