//go:build e2e

package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Short lifetimes for the tests that wait on Vault's periodic function: a
// credential lives 4 minutes upstream, so it is due for rotation 2 minutes
// before it expires (the engine's floor of two periodic ticks), and a
// replaced one is revoked 30 s after its replacement, once its leases ended.
const (
	shortCredentialTTL = 4 * time.Minute
	shortRevokeGrace   = 30 * time.Second
	expiryWindowFloor  = 2 * time.Minute
)

// TestShortLivedCredentials runs, against one Vault, the tests that need
// Vault's periodic function to rotate credentials near expiry: the rotation
// and revocation seen through Vault; and, at the same time, Vault Agent
// re-rendering a baton connector's env file and restarting it with its
// restart command, and Vault Agent supervising another connector itself
// (exec with env_template).
func TestShortLivedCredentials(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{
		credentialTTL: shortCredentialTTL,
		config:        map[string]any{"revoke_grace": fmt.Sprint(int(shortRevokeGrace.Seconds()))},
	})
	t.Run("PeriodicRotation", func(t *testing.T) {
		t.Parallel()
		testPeriodicRotation(t, e.with(t))
	})
	t.Run("Agent", func(t *testing.T) {
		t.Parallel()
		testAgent(t, e.with(t))
	})
}

// with is e for a subtest: failures and cleanups go to t.
func (e *c1env) with(t *testing.T) *c1env {
	c := *e
	c.t = t
	s := *e.sim
	s.t = t
	c.sim = &s
	v := *e.v
	v.t = t
	c.v = &v
	return &c
}

// testPeriodicRotation registers a connector and, without any write, watches
// Vault rotate its credential before expiry and revoke the old one after the
// grace and once the lease served for it has ended.
func testPeriodicRotation(t *testing.T, e *c1env) {
	const app, conn = "app-short", "conn-periodic"
	start := time.Now()
	first := e.register(app, conn)
	up := e.sim.credential(app, conn, first)
	if up.ExpiresTime == nil {
		t.Fatal("upstream credential has no expires_time")
	}
	expires := parseTime(t, "upstream expires_time", *up.ExpiresTime)
	created := parseTime(t, "upstream created_at", up.CreatedAt)
	near(t, "credential lifetime upstream", expires.Sub(created), shortCredentialTTL, time.Second)

	st := e.status(app, conn)
	due := parseTime(t, "next_rotation", str(st, "next_rotation"))
	if d := expires.Sub(due); d < expiryWindowFloor-time.Second || d > expiryWindowFloor+time.Second {
		t.Errorf("next_rotation is %s before expiry, want %s (the floor of two periodic ticks)", d, expiryWindowFloor)
	}

	// A lease taken now ends at the planned revocation: rotation + grace.
	c1 := e.readCreds(app, conn)
	if c1.credentialID != first {
		t.Fatalf("creds read: %s, want %s", c1.credentialID, first)
	}
	want := due.Add(shortRevokeGrace)
	if expires.Before(want) {
		want = expires
	}
	leaseEndsAt(t, "creds read of a credential due for rotation (rotation + grace)", c1.ttl, want, c1.readAt, c1.answeredAt)
	leaseEnd := c1.readAt.Add(c1.ttl)
	if !e.sim.valid(c1.clientID, c1.clientSecret) {
		t.Fatal("the served credential does not authenticate upstream")
	}

	// Rotation by the periodic function: within a tick (~60 s) of due.
	var second string
	var retiredAt time.Time
	waitFor(t, "periodic rotation", time.Until(due)+3*time.Minute, 3*time.Second, func() (bool, string) {
		st := e.status(app, conn)
		cur := str(st, "current_credential_id")
		if cur == first {
			return false, fmt.Sprintf("current %s, next_rotation %s, last_error %q", cur, str(st, "next_rotation"), str(st, "last_error"))
		}
		second = cur
		if !slices.Contains(strs(st, "retiring_credential_ids"), first) {
			t.Errorf("after rotation the replaced credential %s is not retiring: %v", first, strs(st, "retiring_credential_ids"))
		}
		pending, _ := st.Data["pending_revocations"].([]any)
		for _, p := range pending {
			if m, _ := p.(map[string]any); m != nil && m["credential_id"] == first {
				retiredAt = parseTime(t, "retired_at", fmt.Sprint(m["retired_at"]))
				revokeAt := parseTime(t, "revoke_at", fmt.Sprint(m["revoke_at"]))
				if revokeAt.Before(retiredAt.Add(shortRevokeGrace)) || revokeAt.Before(leaseEnd.Add(-time.Second)) {
					t.Errorf("revoke_at %s is before the grace (%s) or the lease end (%s)",
						revokeAt, retiredAt.Add(shortRevokeGrace), leaseEnd)
				}
			}
		}
		if str(st, "last_rotation") == "" {
			t.Error("status after the periodic rotation has no last_rotation")
		}
		return true, ""
	})
	if retiredAt.IsZero() {
		t.Error("pending_revocations does not describe the replaced credential")
	}
	if time.Now().After(expires) {
		t.Errorf("the credential was rotated only after it expired (%s)", expires)
	}

	c2 := e.readCreds(app, conn)
	if c2.credentialID != second || c2.clientID == c1.clientID {
		t.Fatalf("creds read after rotation: %s, want %s with a new client id", c2.credentialID, second)
	}
	if !e.sim.valid(c2.clientID, c2.clientSecret) {
		t.Error("the new credential does not authenticate upstream")
	}
	if time.Now().Before(leaseEnd) && !e.sim.valid(c1.clientID, c1.clientSecret) {
		t.Error("the replaced credential stopped working while a lease for it was still running")
	}

	// Revocation after the grace and the lease, by the periodic function.
	waitFor(t, "revocation of the replaced credential", 3*time.Minute, 3*time.Second, func() (bool, string) {
		st := e.status(app, conn)
		ids := strs(st, "retiring_credential_ids")
		if slices.Contains(ids, first) {
			return false, fmt.Sprintf("retiring %v, last_error %q", ids, str(st, "last_error"))
		}
		return true, ""
	})
	old := e.sim.credential(app, conn, first)
	if !old.Revoked || old.RevokedAt == nil {
		t.Fatalf("the replaced credential left Vault's retiring list but is not revoked upstream")
	}
	revokedAt := parseTime(t, "revoked_at", *old.RevokedAt)
	if revokedAt.Before(leaseEnd.Add(-time.Second)) {
		t.Errorf("the replaced credential was revoked at %s, before its lease ended at %s", revokedAt, leaseEnd)
	}
	if !retiredAt.IsZero() && revokedAt.Before(retiredAt.Add(shortRevokeGrace)) {
		t.Errorf("the replaced credential was revoked at %s, within the grace (retired %s)", revokedAt, retiredAt)
	}
	if e.sim.valid(c1.clientID, c1.clientSecret) {
		t.Error("the replaced credential still authenticates upstream")
	}
	if !e.sim.valid(c2.clientID, c2.clientSecret) {
		t.Error("the current credential no longer authenticates upstream")
	}
	if s := e.status(app, conn); str(s, "current_credential_id") != second {
		t.Errorf("current credential %s, want %s", str(s, "current_credential_id"), second)
	}
	t.Logf("rotated and revoked in %s", time.Since(start).Round(time.Second))
}

// testAgent runs Vault Agent with a template that renders a baton connector
// env file from creds/ and restarts the connector, and one that renders an
// Aitronos access token from oauth/by-connection/. Beside it, across the same
// rotation, a second Agent supervises another connector in exec mode.
func testAgent(t *testing.T, e *c1env) {
	const app, conn = "app-short", "conn-agent"
	execMovedOn := startAgentExec(t, e)
	first := e.register(app, conn)
	firstUp := e.sim.credential(app, conn, first)

	// An Aitronos connection, read first with the API client.
	connectionID := "ca_" + randID(12)
	credentialID := "cred_" + randID(12)
	tokenExpires := time.Now().Add(time.Hour).Truncate(time.Second)
	accessToken := e.sim.aitronosConnection(connectionID, credentialID, tokenExpires)
	readAt := time.Now()
	o := e.v.read(mountPath + "/oauth/by-connection/" + connectionID)
	answeredAt := time.Now()
	if o == nil {
		t.Fatal("oauth/by-connection read: not found")
	}
	if str(o, "access_token") != accessToken {
		t.Error("oauth/by-connection read: access_token is not the connection's")
	}
	if got := parseTime(t, "oauth expires_at", str(o, "expires_at")); !got.Equal(tokenExpires) {
		t.Errorf("oauth expires_at %s, upstream %s", got, tokenExpires)
	}
	leaseEndsAt(t, "oauth/by-connection read vs upstream expires_at", time.Duration(o.LeaseDuration)*time.Second, tokenExpires, readAt, answeredAt)
	if o.Renewable || o.LeaseID == "" {
		t.Errorf("oauth lease: id %q renewable %v, want a non-renewable lease", o.LeaseID, o.Renewable)
	}
	if _, ok := o.Data["refresh_token"]; ok {
		t.Error("oauth read returns the refresh token without aitronos_return_refresh_token")
	}
	if byCred := e.v.read(mountPath + "/oauth/" + credentialID); byCred == nil || str(byCred, "access_token") != accessToken ||
		str(byCred, "connection_id") != connectionID {
		t.Error("oauth/<credential_id> read does not serve the connection's token")
	}

	// A token for the agent, limited to reads of creds/ and oauth/.
	agentTok := agentToken(t, e, "c1-agent", `
path "c1/creds/*" { capabilities = ["read"] }
path "c1/oauth/*" { capabilities = ["read"] }
`)
	if _, stderr, err := e.v.runAs(agentTok, nil, "read", mountPath+"/config"); err == nil {
		t.Error("the agent's token can read c1/config; the policy is too wide")
	} else if !strings.Contains(stderr, "permission denied") {
		t.Errorf("agent token reading c1/config: %s", strings.TrimSpace(stderr))
	}

	dir, base := agentSetup(t, e, "agent", agentTok)
	batonEnv := filepath.Join(dir, "baton.env")
	oauthEnv := filepath.Join(dir, "aitronos.env")
	restartLog := filepath.Join(dir, "restarts.log")
	eventsPath := filepath.Join(dir, "connector-events.jsonl")
	restart, stopConnector := restartCommand(t, e, dir, batonEnv, restartLog, eventsPath)
	config := base + fmt.Sprintf(`
# The baton connector reads its credential once at start-up: re-render the env
# file when the credential changes and restart the connector.
template {
  destination = %q
  perms       = "0600"
  contents    = <<EOT
{{- with secret "c1/creds/%s/%s" -}}
BATON_CLIENT_ID={{ .Data.client_id }}
BATON_CLIENT_SECRET={{ .Data.client_secret }}
{{ end -}}
EOT
  exec {
    command = [%q]
    timeout = "30s"
  }
}

template {
  destination = %q
  perms       = "0600"
  contents    = <<EOT
{{- with secret "c1/oauth/by-connection/%s" -}}
AITRONOS_ACCESS_TOKEN={{ .Data.access_token }}
AITRONOS_TOKEN_EXPIRES_AT={{ .Data.expires_at }}
{{ end -}}
EOT
}
`, batonEnv, app, conn, restart, oauthEnv, connectionID)
	configPath := filepath.Join(dir, "agent.hcl")
	if err := os.WriteFile(configPath, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	agentLog := filepath.Join(dir, "agent.log")
	agent := startProc(t, "vault agent", agentLog, cleanEnv(), vaultBin, "agent", "-config="+configPath, "-log-level=debug")
	t.Cleanup(stopConnector) // before the agent stops: the connector is its restart command's child
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("vault agent log, last lines:\n%s", logTail(agentLog, 60))
		}
	})

	readEnv := func() (map[string]string, int) {
		b, _ := os.ReadFile(batonEnv)
		r, _ := os.ReadFile(restartLog)
		return envFile(b), strings.Count(string(r), "restart ")
	}
	waitFor(t, "agent renders the baton env file", 90*time.Second, time.Second, func() (bool, string) {
		if agent.exited() {
			t.Fatalf("vault agent exited; log:\n%s", logTail(agentLog, 60))
		}
		env, restarts := readEnv()
		return env["BATON_CLIENT_ID"] != "" && restarts >= 1, fmt.Sprintf("client id set %v, restarts %d", env["BATON_CLIENT_ID"] != "", restarts)
	})
	env, restarts := readEnv()
	if env["BATON_CLIENT_ID"] != firstUp.ClientID {
		t.Errorf("rendered BATON_CLIENT_ID is not the client id of the current credential %s", first)
	}
	if !e.sim.valid(env["BATON_CLIENT_ID"], env["BATON_CLIENT_SECRET"]) {
		t.Error("the rendered baton credential does not authenticate upstream")
	}
	if restarts != 1 {
		t.Errorf("restart command ran %d times after the first render, want 1", restarts)
	}
	if st, err := os.Stat(batonEnv); err == nil && st.Mode().Perm() != 0o600 {
		t.Errorf("baton env file mode %v, want 0600", st.Mode().Perm())
	}

	waitFor(t, "agent renders the Aitronos token", 60*time.Second, time.Second, func() (bool, string) {
		b, _ := os.ReadFile(oauthEnv)
		return envFile(b)["AITRONOS_ACCESS_TOKEN"] != "", "not rendered yet"
	})
	b, _ := os.ReadFile(oauthEnv)
	oe := envFile(b)
	if oe["AITRONOS_ACCESS_TOKEN"] != accessToken {
		t.Error("rendered AITRONOS_ACCESS_TOKEN is not the connection's token")
	}
	if got := parseTime(t, "rendered expires_at", oe["AITRONOS_TOKEN_EXPIRES_AT"]); !got.Equal(tokenExpires) {
		t.Errorf("rendered AITRONOS_TOKEN_EXPIRES_AT %s, want %s", got, tokenExpires)
	}

	// The periodic function rotates the credential; the agent sees the new
	// one once its lease nears its end, re-renders and restarts the connector.
	firstEnv := env
	var oldValidAtRerender bool
	waitFor(t, "agent re-renders after the periodic rotation", 7*time.Minute, time.Second, func() (bool, string) {
		if agent.exited() {
			t.Fatalf("vault agent exited; log:\n%s", logTail(agentLog, 60))
		}
		env, restarts := readEnv()
		if env["BATON_CLIENT_ID"] == "" || env["BATON_CLIENT_ID"] == firstEnv["BATON_CLIENT_ID"] || restarts < 2 {
			st := e.status(app, conn)
			return false, fmt.Sprintf("rendered credential unchanged, %d restart(s); Vault's current credential %s (first %s)",
				restarts, str(st, "current_credential_id"), first)
		}
		oldValidAtRerender = e.sim.valid(firstEnv["BATON_CLIENT_ID"], firstEnv["BATON_CLIENT_SECRET"])
		return true, ""
	})
	env, restarts = readEnv()
	st := e.status(app, conn)
	cur := str(st, "current_credential_id")
	if cur == first {
		t.Fatal("the agent rendered a new credential but Vault's current one is still the first")
	}
	if up := e.sim.credential(app, conn, cur); up.ClientID != env["BATON_CLIENT_ID"] {
		t.Errorf("the re-rendered client id is not that of Vault's current credential %s", cur)
	}
	if !e.sim.valid(env["BATON_CLIENT_ID"], env["BATON_CLIENT_SECRET"]) {
		t.Error("the re-rendered baton credential does not authenticate upstream")
	}
	if restarts != 2 {
		t.Errorf("restart command ran %d times, want 2 (first render and one rotation)", restarts)
	}
	if oldValidAtRerender {
		t.Log("the old credential was still valid when the agent switched (rotate, re-render, then revoke)")
	} else {
		t.Log("note: the old credential was already revoked when the agent's re-render was observed")
	}
	awaitConnectorMovedOn(t, e, "template form", app, conn, eventsPath, firstUp, func() string {
		if agent.exited() {
			return "vault agent exited; log:\n" + logTail(agentLog, 60)
		}
		return ""
	})
	execMovedOn()
}

// restartCommand writes the template's restart command, as a service
// manager's restart would be: stop the running connector (SIGTERM), start one
// that reads the rendered env file. It returns the command's path, and a
// function that stops the connector it started.
func restartCommand(t *testing.T, e *c1env, dir, envFile, restartLog, eventsPath string) (path string, stop func()) {
	t.Helper()
	bin := connectorCommand(t, e, dir, "baton-okta", eventsPath)
	pidFile := filepath.Join(dir, "connector.pid")
	script := fmt.Sprintf(`#!/bin/sh
echo "restart $(date +%%s)" >> %[1]q
if [ -f %[2]q ]; then
  pid=$(cat %[2]q)
  kill -TERM "$pid" 2>/dev/null
  i=0
  while kill -0 "$pid" 2>/dev/null && [ "$(cut -d' ' -f3 /proc/$pid/stat 2>/dev/null)" != Z ] && [ $i -lt 100 ]; do
    sleep 0.1
    i=$((i+1))
  done
fi
set -a
. %[3]q
set +a
nohup %[4]q >>%[5]q 2>&1 </dev/null &
echo $! > %[2]q
`, restartLog, pidFile, envFile, filepath.Join(bin, "baton-okta"), filepath.Join(dir, "connector.log"))
	path = filepath.Join(dir, "restart-connector.sh")
	if err := os.WriteFile(path, []byte(script), 0o700); err != nil {
		t.Fatal(err)
	}
	return path, func() {
		b, err := os.ReadFile(pidFile)
		if err != nil {
			return
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil {
			return
		}
		_ = syscall.Kill(pid, syscall.SIGTERM)
		for i := 0; i < 100 && syscall.Kill(pid, 0) == nil; i++ {
			time.Sleep(50 * time.Millisecond) // waits for the process to end, not for time to pass
		}
	}
}
