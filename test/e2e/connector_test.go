//go:build e2e

package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"
)

// A baton connector is played by the stand-in (STANDIN_BIN): it reads
// BATON_CLIENT_ID and BATON_CLIENT_SECRET once, logs in upstream every
// second, and appends start, login, refused, error and stop events to a file.

// standinEvent is one line of the stand-in's events file.
type standinEvent struct {
	Time     time.Time `json:"time"`
	PID      int       `json:"pid"`
	Event    string    `json:"event"`
	ClientID string    `json:"client_id"`
	Status   int       `json:"status"`
	Error    string    `json:"error"`
}

// readEvents parses an events file; a missing file has no events.
func readEvents(t *testing.T, path string) []standinEvent {
	t.Helper()
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []standinEvent
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var e standinEvent
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("events file %s: line %q: %v", path, sc.Text(), err)
		}
		out = append(out, e)
	}
	return out
}

// connectorCommand writes an executable named name into dir/bin that runs
// the stand-in against the simulator, appending to eventsPath, and returns
// the bin directory (to put first on PATH).
func connectorCommand(t *testing.T, e *c1env, dir, name, eventsPath string) string {
	t.Helper()
	bin := filepath.Join(dir, "bin")
	if err := os.MkdirAll(bin, 0o700); err != nil {
		t.Fatal(err)
	}
	script := fmt.Sprintf("#!/bin/sh\n# Stands in for the real connector; its arguments are ignored.\nexec %q -server-url %q -events %q\n",
		standinBin, e.sim.url, eventsPath)
	if err := os.WriteFile(filepath.Join(bin, name), []byte(script), 0o700); err != nil {
		t.Fatal(err)
	}
	return bin
}

// agentSetup makes a directory for a Vault Agent holding its token file,
// and returns it with the Agent configuration that points at this Vault and
// logs in with that token (the test's stand-in for agent.hcl).
func agentSetup(t *testing.T, e *c1env, name, token string) (dir, config string) {
	t.Helper()
	dir = filepath.Join(e.dir, name+"-"+randID(4))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	config = fmt.Sprintf(`
pid_file = %q

vault {
  address = %q
}

%s`, filepath.Join(dir, "agent.pid"), e.v.addr, agentTokenAuth(tokenFile))
	return dir, config
}

// agentToken creates a token for an Agent with the given policy.
func agentToken(t *testing.T, e *c1env, name, policy string) string {
	t.Helper()
	if err := e.v.api.Sys().PutPolicy(name, policy); err != nil {
		t.Fatalf("policy: %v", err)
	}
	tok, err := e.v.api.Auth().Token().Create(&api.TokenCreateRequest{Policies: []string{name}, TTL: "1h"})
	if err != nil || tok.Auth == nil {
		t.Fatalf("token create: %v", err)
	}
	return tok.Auth.ClientToken
}

// connectorRun summarises an events file.
type connectorRun struct {
	starts   []standinEvent
	refused  []standinEvent
	failed   []standinEvent
	lastUse  map[string]time.Time // client id -> last successful login
	firstUse map[string]time.Time
}

func summarise(events []standinEvent) connectorRun {
	r := connectorRun{lastUse: map[string]time.Time{}, firstUse: map[string]time.Time{}}
	for _, ev := range events {
		switch ev.Event {
		case "start":
			r.starts = append(r.starts, ev)
		case "refused":
			r.refused = append(r.refused, ev)
		case "error":
			r.failed = append(r.failed, ev)
		case "login":
			if ev.Time.After(r.lastUse[ev.ClientID]) {
				r.lastUse[ev.ClientID] = ev.Time
			}
			if f, ok := r.firstUse[ev.ClientID]; !ok || ev.Time.Before(f) {
				r.firstUse[ev.ClientID] = ev.Time
			}
		}
	}
	return r
}

// awaitConnectorMovedOn waits until the connector whose events are in
// eventsPath runs on the credential that replaced first, the engine has
// revoked first upstream, and the connector has logged in after that
// revocation; then it checks the run: no refused (or failed) login, started
// once with first, then once with each later credential in the order the
// engine rotated them, first never used after its revocation.
//
// Credentials in the suite live four minutes, so the engine may rotate again
// before first's revocation (held back while the connector used it) is done:
// the replacement is the one the engine served first after first, and a
// later rotation, with its own restart, is part of a correct run.
func awaitConnectorMovedOn(t *testing.T, e *c1env, form, app, conn, eventsPath string, first simCredential, alive func() string) {
	t.Helper()
	var (
		second    simCredential
		revokedAt time.Time
	)
	waitFor(t, form+": connector restarted onto the rotated credential, old one revoked", 8*time.Minute, 2*time.Second, func() (bool, string) {
		if why := alive(); why != "" {
			t.Fatal(why)
		}
		run := summarise(readEvents(t, eventsPath))
		if len(run.refused) > 0 {
			t.Fatalf("%s: the connector saw a refused login: %+v", form, run.refused[0])
		}
		st := e.status(app, conn)
		if second.ID == "" {
			cur := str(st, "current_credential_id")
			if cur == first.ID || cur == "" {
				return false, fmt.Sprintf("not rotated yet (next_rotation %s)", str(st, "next_rotation"))
			}
			second = e.sim.credential(app, conn, cur)
		}
		if _, ok := run.firstUse[second.ClientID]; !ok {
			return false, fmt.Sprintf("rotated to %s; the connector has not logged in with it yet", second.ID)
		}
		old := e.sim.credential(app, conn, first.ID)
		if !old.Revoked || old.RevokedAt == nil {
			return false, fmt.Sprintf("connector moved to %s; %s not revoked yet (retiring %v)", second.ID, first.ID, strs(st, "retiring_credential_ids"))
		}
		revokedAt = parseTime(t, "revoked_at", *old.RevokedAt)
		if !lastUseExcept(run, first.ClientID).After(revokedAt.Add(time.Second)) {
			return false, "old credential revoked; waiting for the connector to log in after that"
		}
		return true, ""
	})

	run := summarise(readEvents(t, eventsPath))
	if len(run.refused) > 0 || len(run.failed) > 0 {
		t.Errorf("%s: the connector saw %d refused and %d failed login(s): %+v %+v", form, len(run.refused), len(run.failed), run.refused, run.failed)
	}
	if want := rotatedClientIDs(t, e, app, conn, first.ID); !startedOncePerCredential(run, want) {
		var startedWith []string
		for _, s := range run.starts {
			startedWith = append(startedWith, s.ClientID)
		}
		t.Errorf("%s: the connector started with %v, want once with each credential the engine created since %s, in order: %v",
			form, startedWith, first.ClientID, want)
	}
	last := run.lastUse[first.ClientID]
	if last.IsZero() {
		t.Errorf("%s: the connector never logged in with the first credential", form)
	}
	if !last.Before(revokedAt) {
		t.Errorf("%s: the first credential was revoked at %s, before the connector's last use of it at %s", form, revokedAt, last)
	}
	t.Logf("%s: last login with the old credential %s, first with the new %s, old revoked %s (%s after the connector left it); %d start(s)",
		form, last.Format(time.RFC3339), run.firstUse[second.ClientID].Format(time.RFC3339), revokedAt.Format(time.RFC3339),
		revokedAt.Sub(last).Round(time.Second), len(run.starts))
	if up := e.sim.credential(app, conn, first.ID); up.LastUsedAt == nil {
		t.Errorf("%s: upstream has no last_used_at for the first credential the connector used", form)
	}
}

// lastUseExcept is the connector's last successful login with a credential
// other than clientID.
func lastUseExcept(run connectorRun, clientID string) time.Time {
	var last time.Time
	for id, at := range run.lastUse {
		if id != clientID && at.After(last) {
			last = at
		}
	}
	return last
}

// rotatedClientIDs are the client ids of the connector's credentials
// upstream, in the order they were created, from firstID on.
func rotatedClientIDs(t *testing.T, e *c1env, app, conn, firstID string) []string {
	creds := e.sim.credentials(app, conn)
	slices.SortStableFunc(creds, func(a, b simCredential) int {
		return parseTime(t, "created_at", a.CreatedAt).Compare(parseTime(t, "created_at", b.CreatedAt))
	})
	var ids []string
	for _, c := range creds {
		if c.ID == firstID || len(ids) > 0 {
			ids = append(ids, c.ClientID)
		}
	}
	return ids
}

// startedOncePerCredential reports whether the connector started once with
// each of want's client ids in that order, the last of them allowed to have
// no start yet (the engine may have rotated while the test was checking).
func startedOncePerCredential(run connectorRun, want []string) bool {
	if len(run.starts) < 2 || len(run.starts) > len(want) || len(want)-len(run.starts) > 1 {
		return false
	}
	for i, s := range run.starts {
		if s.ClientID != want[i] {
			return false
		}
	}
	return true
}

// startAgentExec starts the Agent configuration of docs/examples/agent-exec:
// an exec block supervises the connector, with its credential in
// env_template entries, and restarts it when the engine rotates the
// credential. Once the connector runs, it returns the wait for, and the
// checks of, its move to the rotated credential.
func startAgentExec(t *testing.T, e *c1env) (movedOn func()) {
	const app, conn = "app-123", "conn-456" // the connector named in connector.hcl
	connectorHCL := filepath.Join(moduleRoot(t), "docs", "examples", "agent-exec", "connector.hcl")
	b, err := os.ReadFile(connectorHCL)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "c1/creds/"+app+"/"+conn) || !strings.Contains(string(b), `command                   = ["baton-okta"]`) {
		t.Fatalf("%s no longer reads c1/creds/%s/%s or runs baton-okta; keep the test's ids in step", connectorHCL, app, conn)
	}
	first := e.register(app, conn)
	firstUp := e.sim.credential(app, conn, first)

	policy, err := os.ReadFile(filepath.Join(filepath.Dir(connectorHCL), "policy.hcl"))
	if err != nil {
		t.Fatal(err)
	}
	token := agentToken(t, e, "baton-okta", string(policy))

	dir, base := agentSetup(t, e, "agent-exec", token)
	eventsPath := filepath.Join(dir, "connector-events.jsonl")
	bin := connectorCommand(t, e, dir, "baton-okta", eventsPath)
	basePath := filepath.Join(dir, "agent.hcl")
	if err := os.WriteFile(basePath, []byte(base), 0o600); err != nil {
		t.Fatal(err)
	}
	agentLog := filepath.Join(dir, "agent.log")
	agent := startProc(t, "vault agent (exec)", agentLog, cleanEnv("PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH")),
		vaultBin, "agent", "-config="+basePath, "-config="+connectorHCL, "-log-level=debug")
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("vault agent log, last lines:\n%s", logTail(agentLog, 60))
		}
	})
	alive := func() string {
		if agent.exited() {
			return "vault agent exited; log:\n" + logTail(agentLog, 60)
		}
		return ""
	}

	waitFor(t, "agent starts the connector with the current credential", 90*time.Second, time.Second, func() (bool, string) {
		if why := alive(); why != "" {
			t.Fatal(why)
		}
		run := summarise(readEvents(t, eventsPath))
		_, ok := run.firstUse[firstUp.ClientID]
		return ok, fmt.Sprintf("%d start(s), logged in: %v", len(run.starts), ok)
	})
	return func() { awaitConnectorMovedOn(t, e, "exec form", app, conn, eventsPath, firstUp, alive) }
}
