//go:build e2e

package e2e

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vault-plugin-c1/vault-plugin-c1/internal/c1api"
)

// Adoption under real Vault. Leases end within adoptLeaseTTL (the mount's
// max lease TTL), so Vault Agent reads the credential again, and moves the
// connector to a rotated one, within that time of a rotation. A replaced
// credential is revoked no sooner than adoptRevokeGrace after the rotation
// and the end of its leases, and once unused upstream for as long: shorter
// than the minute between two periodic runs, so the run after the one that
// held a revocation back revokes it when the use has stopped meanwhile.
const (
	adoptLeaseTTL    = 20 * time.Second
	adoptRevokeGrace = 45 * time.Second
)

// TestAdoptTakeover takes over, through Vault, a connector that runs with a
// credential made outside Vault. A baton connector stand-in is started by
// hand with a credential created through the C1 API; the engine adopts that
// credential (nothing is created upstream); Vault Agent, in exec mode with
// docs/examples/agent-exec/connector.hcl as it is, starts the connector with
// the adopted credential; a rotation follows and Agent moves its connector
// to the new credential. The hand-started connector is stopped only once the
// engine has held the adopted credential's revocation back because it was
// still in use. It checks that no login was refused from start to end and
// that the adopted credential was revoked only after the last login with it,
// by at least revoke_grace. Before that, every refused adoption of a fresh
// connector answers as documented and stores and creates nothing;
// meanwhile docs/examples/adopt/adopt-all.sh adopts connectors listed in a
// file.
func TestAdoptTakeover(t *testing.T) {
	t.Parallel()
	start := time.Now()
	e := newEnv(t, envOptions{config: map[string]any{"revoke_grace": fmt.Sprint(int(adoptRevokeGrace.Seconds()))}})
	ttl := fmt.Sprintf("%ds", int(adoptLeaseTTL.Seconds()))
	e.v.cli("secrets", "tune", "-default-lease-ttl="+ttl, "-max-lease-ttl="+ttl, mountPath+"/")
	outside := newAdoptOutside(t, e)

	testAdoptRefusals(t, e, outside)
	t.Logf("refused adoptions checked after %s", time.Since(start).Round(time.Second))
	testAdoptTakeover(t, e, outside, func() { testAdoptAll(t, e, outside) })
	t.Logf("takeover done in %s", time.Since(start).Round(time.Second))
}

// adoptOutside creates connector credentials upstream as an operator would,
// outside Vault: through the C1 API with the environment's C1 client.
type adoptOutside struct {
	t *testing.T
	c *c1api.Client
}

func newAdoptOutside(t *testing.T, e *c1env) *adoptOutside {
	t.Helper()
	c, err := c1api.New(c1api.Config{ServerURL: e.sim.url, ClientID: e.c1ClientID, ClientSecret: e.c1ClientSecret})
	if err != nil {
		t.Fatalf("C1 API client: %v", err)
	}
	return &adoptOutside{t: t, c: c}
}

// credential creates a credential of app/conn upstream and returns it with
// its secret.
func (o *adoptOutside) credential(app, conn string) *c1api.Credential {
	o.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := o.c.RotateCredential(ctx, app, conn)
	if err != nil {
		o.t.Fatalf("creating a credential of %s/%s through the C1 API: %v", app, conn, err)
	}
	if c.ID == "" || c.ClientID == "" || c.ClientSecret == "" {
		o.t.Fatalf("the C1 API made a credential of %s/%s without id, client id or secret", app, conn)
	}
	return c
}

// adoptFields are the fields of a creds write that adopts c.
func adoptFields(c *c1api.Credential) map[string]any {
	return map[string]any{"credential_id": c.ID, "client_id": c.ClientID, "client_secret": c.ClientSecret}
}

// adoptReadStatus is the HTTP status of a read of path (under /v1/).
func adoptReadStatus(t *testing.T, e *c1env, path string) int {
	t.Helper()
	resp, err := e.v.api.Logical().ReadRaw(path)
	if resp == nil {
		t.Fatalf("read %s: no answer: %v", path, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

// adoptNotStored fails the test unless Vault manages no connector app/conn:
// its rotate/ status and its creds read both answer 404.
func adoptNotStored(t *testing.T, e *c1env, what, app, conn string) {
	t.Helper()
	for _, p := range []string{"rotate", "creds"} {
		if got := adoptReadStatus(t, e, mountPath+"/"+p+"/"+app+"/"+conn); got != http.StatusNotFound {
			t.Errorf("%s: %s/%s/%s answers %d after the refused adoption, want 404 (nothing stored)", what, p, app, conn, got)
		}
	}
}

// testAdoptRefusals offers a fresh connector credentials it may not adopt,
// and checks each answer (status, the field named, no secret quoted) and
// that nothing was stored in Vault or created upstream.
func testAdoptRefusals(t *testing.T, e *c1env, outside *adoptOutside) {
	const app, conn, other = "app-123", "conn-fresh", "conn-other"
	e.sim.connector(app, conn)
	e.sim.connector(app, other)

	// Credentials made outside Vault: an expired one first (it lives one
	// second), then, with the simulator's default lifetime again, a good
	// one, a sibling, another connector's and a deleted one.
	e.sim.setCredentialTTL(time.Second)
	expired := outside.credential(app, conn)
	e.sim.setCredentialTTL(720 * time.Hour)
	good := outside.credential(app, conn)
	sibling := outside.credential(app, conn)
	othersCred := outside.credential(app, other)
	deleted := outside.credential(app, conn)
	e.sim.do(http.MethodPost, "/_sim/c1/credentials/revoke", map[string]string{"id": deleted.ID}, nil)
	made := []string{expired.ID, good.ID, sibling.ID, deleted.ID}
	secrets := []string{expired.ClientSecret, good.ClientSecret, sibling.ClientSecret, othersCred.ClientSecret, deleted.ClientSecret}
	creates := e.sim.calls()["rotate"]

	with := func(c *c1api.Credential, key, value string) map[string]any {
		d := adoptFields(c)
		if value == "" {
			delete(d, key)
		} else {
			d[key] = value
		}
		return d
	}
	cases := []struct {
		name   string
		data   map[string]any
		status int
		field  string
	}{
		{"a client secret that does not parse", with(good, "client_secret", "secret-token:conductorone.com:v1:notakey"), 400, "client_secret"},
		{"a client secret whose login is refused (another credential's)", with(good, "client_secret", sibling.ClientSecret), 400, "client_secret"},
		{"a client id that does not parse", with(good, "client_id", "no-at-sign"), 400, "client_id"},
		{"a client id that is not the credential's", with(good, "client_id", sibling.ClientID), 400, "client_id"},
		{"an unknown credential id", with(good, "credential_id", "nosuchcredential"+randID(8)), 400, "credential_id"},
		{"another connector's credential", adoptFields(othersCred), 400, "credential_id"},
		{"a deleted credential", adoptFields(deleted), 400, "credential_id"},
		{"an expired credential", adoptFields(expired), 400, "credential_id"},
		{"client_secret missing", with(good, "client_secret", ""), 400, "client_secret"},
	}
	if wait := time.Until(expired.ExpiresTime); wait > 0 {
		time.Sleep(wait + 100*time.Millisecond) // the expired credential's case needs it expired
	}
	check := func(name string, err error, status int, word string) {
		t.Helper()
		wantStatus(t, "adopting "+name, err, status, word)
		if err != nil {
			for _, s := range secrets {
				if strings.Contains(err.Error(), s) {
					t.Errorf("adopting %s: the error quotes a client secret", name)
				}
			}
		}
		adoptNotStored(t, e, "adopting "+name, app, conn)
	}
	path := mountPath + "/creds/" + app + "/" + conn
	for _, tc := range cases {
		_, err := e.v.api.Logical().Write(path, tc.data)
		check(tc.name, err, tc.status, `field "`+tc.field+`"`)
		if err != nil {
			t.Logf("adopting %s: %d naming %s", tc.name, tc.status, tc.field)
		}
	}

	// The upstream cannot be asked: a 502, nothing stored.
	e.sim.inject(map[string]any{"op": "get", "status": 503})
	_, err := e.v.api.Logical().Write(path, adoptFields(good))
	e.sim.do(http.MethodDelete, "/_sim/faults", nil, nil)
	check("while the upstream's credential reads fail", err, http.StatusBadGateway, "")
	if err != nil {
		t.Logf("adopting while the upstream's credential reads fail: %d", http.StatusBadGateway)
	}

	if got := e.sim.calls()["rotate"]; got != creates {
		t.Errorf("the refused adoptions created %d credential(s) upstream", got-creates)
	}
	var upstream []string
	for _, c := range e.sim.credentials(app, conn) {
		upstream = append(upstream, c.ID)
	}
	slices.Sort(upstream)
	slices.Sort(made)
	if !slices.Equal(upstream, made) {
		t.Errorf("upstream credentials of %s/%s: %v, want only the %d made outside Vault %v", app, conn, upstream, len(made), made)
	}
	// The good credential is adoptable: the refusals were about the input.
	s := e.v.write(path, adoptFields(good))
	if str(s, "credential_id") != good.ID {
		t.Errorf("adopting the good credential after the refusals: credential_id %q, want %s", str(s, "credential_id"), good.ID)
	}
}

// testAdoptTakeover is the takeover of a running connector; during the wait
// for Agent to move it, it runs meanwhile.
func testAdoptTakeover(t *testing.T, e *c1env, outside *adoptOutside, meanwhile func()) {
	const app, conn = "app-123", "conn-456" // the connector named in docs/examples/agent-exec/connector.hcl
	connectorHCL := filepath.Join(moduleRoot(t), "docs", "examples", "agent-exec", "connector.hcl")
	hcl, err := os.ReadFile(connectorHCL)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(hcl), "c1/creds/"+app+"/"+conn) || !strings.Contains(string(hcl), `command                   = ["baton-okta"]`) {
		t.Fatalf("%s no longer reads c1/creds/%s/%s or runs baton-okta; keep the test's ids in step", connectorHCL, app, conn)
	}
	e.sim.connector(app, conn)
	adopted := outside.credential(app, conn)
	dir := filepath.Join(e.dir, "takeover")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}

	// 1. The connector runs with a credential made outside Vault.
	outsideEvents := filepath.Join(dir, "outside-events.jsonl")
	handStarted := startProc(t, "baton-okta (started outside Vault)", filepath.Join(dir, "outside.log"),
		cleanEnv("BATON_CLIENT_ID="+adopted.ClientID, "BATON_CLIENT_SECRET="+adopted.ClientSecret),
		standinBin, "-server-url", e.sim.url, "-events", outsideEvents)
	waitFor(t, "the connector started outside Vault logs in", 30*time.Second, 200*time.Millisecond, func() (bool, string) {
		if handStarted.exited() {
			t.Fatalf("the connector started outside Vault exited; log:\n%s", logTail(filepath.Join(dir, "outside.log"), 20))
		}
		_, ok := summarise(readEvents(t, outsideEvents)).firstUse[adopted.ClientID]
		return ok, "no login yet"
	})

	// 2. Vault adopts its credential: checked upstream, nothing created.
	creates := e.sim.calls()["rotate"]
	before := time.Now()
	s := e.v.write(mountPath+"/creds/"+app+"/"+conn, adoptFields(adopted))
	after := time.Now()
	if got := e.sim.calls()["rotate"]; got != creates {
		t.Errorf("adopting created %d credential(s) upstream", got-creates)
	}
	if str(s, "credential_id") != adopted.ID || str(s, "client_id") != adopted.ClientID {
		t.Fatalf("adoption answer: credential %q client %q, want %s", str(s, "credential_id"), str(s, "client_id"), adopted.ID)
	}
	for k, v := range s.Data {
		if strings.Contains(fmt.Sprint(v), adopted.ClientSecret) {
			t.Errorf("the adoption's answer carries the secret in %s", k)
		}
	}
	if _, ok := s.Data["client_secret"]; ok {
		t.Error("the adoption's answer has a client_secret field")
	}
	adoptedAt := parseTime(t, "adopted_at", str(s, "adopted_at"))
	if adoptedAt.Before(before.Truncate(time.Second)) || adoptedAt.After(after) {
		t.Errorf("adopted_at %s is not the time of the write (%s to %s)", adoptedAt, before, after)
	}
	near(t, "adopted credential's expires_time vs upstream", parseTime(t, "expires_time", str(s, "expires_time")).Sub(adopted.ExpiresTime), 0, time.Second)
	st := e.status(app, conn)
	if str(st, "current_credential_id") != adopted.ID || st.Data["current_adopted"] != true || str(st, "current_adopted_at") != str(s, "adopted_at") {
		t.Errorf("rotate/ status after adoption: current %q adopted %v at %q, want %s adopted at %s",
			str(st, "current_credential_id"), st.Data["current_adopted"], str(st, "current_adopted_at"), adopted.ID, str(s, "adopted_at"))
	}
	near(t, "rotate/ current_expires_time vs upstream", parseTime(t, "current_expires_time", str(st, "current_expires_time")).Sub(adopted.ExpiresTime), 0, time.Second)
	read := e.readCreds(app, conn)
	if read.credentialID != adopted.ID || read.clientID != adopted.ClientID || read.clientSecret != adopted.ClientSecret {
		t.Fatalf("creds read after adoption serves %s, want the adopted credential %s with its secret", read.credentialID, adopted.ID)
	}
	if read.ttl <= 0 || read.ttl > adoptLeaseTTL || read.renewable {
		t.Errorf("creds read after adoption: lease TTL %s renewable %v, want a non-renewable lease of at most %s", read.ttl, read.renewable, adoptLeaseTTL)
	}
	// The same credential again, now that the connector is managed: a 409
	// naming replace_current, nothing changed.
	_, err = e.v.api.Logical().Write(mountPath+"/creds/"+app+"/"+conn, adoptFields(adopted))
	wantStatus(t, "adopting onto the managed connector", err, http.StatusConflict, "replace_current")
	if cur := str(e.status(app, conn), "current_credential_id"); cur != adopted.ID {
		t.Errorf("after the refused second adoption the current credential is %s, want %s", cur, adopted.ID)
	}

	// 3. Vault Agent (exec, connector.hcl as it is) starts the connector
	// with the adopted credential.
	policy, err := os.ReadFile(filepath.Join(filepath.Dir(connectorHCL), "policy.hcl"))
	if err != nil {
		t.Fatal(err)
	}
	token := agentToken(t, e, "baton-okta", string(policy))
	agentDir, base := agentSetup(t, e, "agent-exec", token)
	agentEvents := filepath.Join(agentDir, "connector-events.jsonl")
	bin := connectorCommand(t, e, agentDir, "baton-okta", agentEvents)
	basePath := filepath.Join(agentDir, "agent.hcl")
	if err := os.WriteFile(basePath, []byte(base), 0o600); err != nil {
		t.Fatal(err)
	}
	agentLog := filepath.Join(agentDir, "agent.log")
	agent := startProc(t, "vault agent (exec)", agentLog, cleanEnv("PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH")),
		vaultBin, "agent", "-config="+basePath, "-config="+connectorHCL, "-log-level=debug")
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("vault agent log, last lines:\n%s", logTail(agentLog, 60))
		}
	})
	alive := func() {
		if agent.exited() {
			t.Fatalf("vault agent exited; log:\n%s", logTail(agentLog, 60))
		}
	}
	noRefusals := func() {
		for what, path := range map[string]string{"started outside Vault": outsideEvents, "run by Agent": agentEvents} {
			if run := summarise(readEvents(t, path)); len(run.refused) > 0 || len(run.failed) > 0 {
				t.Fatalf("the connector %s saw %d refused and %d failed login(s): %+v %+v", what, len(run.refused), len(run.failed), run.refused, run.failed)
			}
		}
	}
	waitFor(t, "Agent starts the connector with the adopted credential", 90*time.Second, 500*time.Millisecond, func() (bool, string) {
		alive()
		noRefusals()
		run := summarise(readEvents(t, agentEvents))
		_, ok := run.firstUse[adopted.ClientID]
		return ok, fmt.Sprintf("%d start(s), logged in with the adopted credential: %v", len(run.starts), ok)
	})

	// 4. The first rotation. Agent moves its connector to the new credential
	// when its lease nears its end. The hand-started connector is retired
	// late, after the adopted credential's planned revocation, as an old
	// deployment drained only once the new one has proven itself: it holds
	// no Vault lease, so only its use upstream (lastUsedAt) keeps the
	// credential alive, and the engine must hold the revocation back.
	rotatedAt := time.Now()
	rot := e.v.write(mountPath+"/rotate/"+app+"/"+conn, nil)
	next := str(rot, "credential_id")
	if next == "" || next == adopted.ID || str(rot, "previous_credential_id") != adopted.ID {
		t.Fatalf("rotate: credential %q previous %q, want a new one replacing %s", next, str(rot, "previous_credential_id"), adopted.ID)
	}
	nextUp := e.sim.credential(app, conn, next)
	plannedRevoke := parseTime(t, "previous_revoke_at", str(rot, "previous_revoke_at"))
	if plannedRevoke.Before(rotatedAt.Add(adoptRevokeGrace).Add(-time.Second)) {
		t.Errorf("the adopted credential's revocation is planned at %s, within revoke_grace of the rotation at %s", plannedRevoke, rotatedAt)
	}

	meanwhile()

	waitFor(t, "Agent moves its connector to the rotated credential", 2*time.Minute, time.Second, func() (bool, string) {
		alive()
		noRefusals()
		run := summarise(readEvents(t, agentEvents))
		_, ok := run.firstUse[nextUp.ClientID]
		return ok, fmt.Sprintf("rotated to %s; Agent's connector has not logged in with it yet (%d start(s))", next, len(run.starts))
	})
	var held map[string]any
	waitFor(t, "the engine holds back the revocation while the hand-started connector still uses the adopted credential",
		time.Until(plannedRevoke)+150*time.Second, 2*time.Second, func() (bool, string) {
			alive()
			noRefusals()
			if handStarted.exited() {
				t.Fatalf("the connector started outside Vault exited; log:\n%s", logTail(filepath.Join(dir, "outside.log"), 20))
			}
			if old := e.sim.credential(app, conn, adopted.ID); old.Revoked {
				t.Fatalf("the adopted credential was revoked at %v while the hand-started connector still used it", *old.RevokedAt)
			}
			st := e.status(app, conn)
			hb, _ := st.Data["held_back_revocations"].([]any)
			for _, h := range hb {
				if m, _ := h.(map[string]any); m != nil && m["credential_id"] == adopted.ID {
					held = m
					return true, ""
				}
			}
			return false, fmt.Sprintf("pending %v", st.Data["pending_revocations"])
		})
	heldSince := parseTime(t, "held_since", fmt.Sprint(held["held_since"]))
	if heldSince.Before(plannedRevoke) {
		t.Errorf("the revocation was held back from %s, before it was planned (%s)", heldSince, plannedRevoke)
	}
	t.Logf("revocation of the adopted credential held back since %s (planned %s): last used %v, deadline %v",
		heldSince.Format(time.RFC3339), plannedRevoke.Format(time.RFC3339), held["last_used_at"], held["revoke_deadline"])
	handStarted.stop(t)
	handLast := summarise(readEvents(t, outsideEvents)).lastUse[adopted.ClientID]
	t.Logf("the hand-started connector stopped after its last login at %s", handLast.Format(time.RFC3339))

	var revokedAt time.Time
	waitFor(t, "the adopted credential is revoked once unused", 3*time.Minute, 2*time.Second, func() (bool, string) {
		alive()
		noRefusals()
		st := e.status(app, conn)
		old := e.sim.credential(app, conn, adopted.ID)
		if !old.Revoked || old.RevokedAt == nil {
			return false, fmt.Sprintf("not revoked yet (held back %v)", st.Data["held_back_revocations"])
		}
		revokedAt = parseTime(t, "revoked_at", *old.RevokedAt)
		if !summarise(readEvents(t, agentEvents)).lastUse[nextUp.ClientID].After(revokedAt.Add(time.Second)) {
			return false, "revoked; waiting for a login of Agent's connector after that"
		}
		return true, ""
	})

	// The figures: no refused login; the last use of the adopted credential
	// came before its revocation, by at least revoke_grace.
	outRun := summarise(readEvents(t, outsideEvents))
	agentRun := summarise(readEvents(t, agentEvents))
	refused := len(outRun.refused) + len(agentRun.refused)
	if refused > 0 || len(outRun.failed)+len(agentRun.failed) > 0 {
		t.Errorf("refused logins %d, failed %d; want none", refused, len(outRun.failed)+len(agentRun.failed))
	}
	var agentStarts []string
	for _, s := range agentRun.starts {
		agentStarts = append(agentStarts, s.ClientID)
	}
	if len(outRun.starts) != 1 || !slices.Equal(agentStarts, []string{adopted.ClientID, nextUp.ClientID}) {
		t.Errorf("starts: %d outside Vault, %v by Agent; want one outside, then Agent's with the adopted (%s) and the rotated (%s) credential",
			len(outRun.starts), agentStarts, adopted.ClientID, nextUp.ClientID)
	}
	agentLast := agentRun.lastUse[adopted.ClientID]
	lastAdopted := agentLast
	if handLast.After(lastAdopted) {
		lastAdopted = handLast
	}
	if lastAdopted.IsZero() || !lastAdopted.Before(revokedAt) {
		t.Errorf("the adopted credential was revoked at %s, not after the connector's last login with it at %s", revokedAt, lastAdopted)
	}
	if revokedAt.Before(plannedRevoke) {
		t.Errorf("the adopted credential was revoked at %s, before its planned revocation %s", revokedAt, plannedRevoke)
	}
	up := e.sim.credential(app, conn, adopted.ID)
	if up.LastUsedAt == nil {
		t.Fatal("upstream has no last_used_at for the adopted credential")
	}
	lastUsedUp := parseTime(t, "last_used_at", *up.LastUsedAt)
	if revokedAt.Sub(lastUsedUp) < adoptRevokeGrace {
		t.Errorf("the adopted credential, used upstream after its rotation (last at %s), was revoked at %s: within revoke_grace (%s) of its last use",
			lastUsedUp, revokedAt, adoptRevokeGrace)
	}
	var ids []string
	for _, c := range e.sim.credentials(app, conn) {
		ids = append(ids, c.ID)
	}
	slices.Sort(ids)
	want := []string{adopted.ID, next}
	slices.Sort(want)
	if !slices.Equal(ids, want) {
		t.Errorf("upstream credentials of %s/%s: %v, want the adopted one and the one rotation made: %v", app, conn, ids, want)
	}
	st = e.status(app, conn)
	if str(st, "current_credential_id") != next || len(strs(st, "retiring_credential_ids")) != 0 || st.Data["current_adopted"] != false {
		t.Errorf("rotate/ status at the end: current %s (adopted %v), retiring %v; want %s, not adopted, nothing retiring",
			str(st, "current_credential_id"), st.Data["current_adopted"], strs(st, "retiring_credential_ids"), next)
	}
	t.Logf("refused logins: %d (hand-started %d, Agent's %d); rotated %s; Agent's connector: last login with the adopted credential %s, "+
		"first with the rotated %s; hand-started connector's last login %s; planned revocation %s, held back from %s; "+
		"revoked %s: %s after the last login with it (upstream lastUsedAt %s), %s after Agent's connector left it",
		refused, len(outRun.refused), len(agentRun.refused), rotatedAt.UTC().Format(time.RFC3339),
		agentLast.Format(time.RFC3339), agentRun.firstUse[nextUp.ClientID].Format(time.RFC3339), handLast.Format(time.RFC3339),
		plannedRevoke.Format(time.RFC3339), heldSince.Format(time.RFC3339), revokedAt.Format(time.RFC3339),
		revokedAt.Sub(lastAdopted).Round(time.Second), lastUsedUp.Format(time.RFC3339), revokedAt.Sub(agentLast).Round(time.Second))
}

// testAdoptAll runs docs/examples/adopt/adopt-all.sh with the vault CLI for
// connectors listed in a file: both adopted; a second run refused for both
// (409, nothing changed); a run with -r replacing one connector's credential
// while a line whose secret file is missing fails.
func testAdoptAll(t *testing.T, e *c1env, outside *adoptOutside) {
	examples := filepath.Join(moduleRoot(t), "docs", "examples", "adopt")
	script := filepath.Join(examples, "adopt-all.sh")
	policy, err := os.ReadFile(filepath.Join(examples, "policy.hcl"))
	if err != nil {
		t.Fatal(err)
	}
	token := agentToken(t, e, "c1-adopter", string(policy))
	dir := filepath.Join(e.dir, "adopt-all")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	type entry struct {
		app, conn string
		cred      *c1api.Credential
		file      string // relative to the list
	}
	var secrets []string
	mk := func(app, conn string) entry {
		c := outside.credential(app, conn)
		secrets = append(secrets, c.ClientSecret)
		file := fmt.Sprintf("%s.%s.%s.secret", app, conn, c.ID)
		if err := os.WriteFile(filepath.Join(dir, file), []byte(c.ClientSecret+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		return entry{app, conn, c, file}
	}
	writeList := func(name string, entries ...entry) string {
		var b strings.Builder
		b.WriteString("# app_id connector_id credential_id client_id secret_file\n\n")
		for _, en := range entries {
			fmt.Fprintf(&b, "%s %s\t%s %s %s\n", en.app, en.conn, en.cred.ID, en.cred.ClientID, en.file)
		}
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	run := func(args ...string) (string, int) {
		t.Helper()
		cmd := exec.Command(script, args...)
		cmd.Dir = t.TempDir()
		cmd.Env = cleanEnv("PATH="+filepath.Dir(vaultBin)+string(os.PathListSeparator)+os.Getenv("PATH"),
			"VAULT_ADDR="+e.v.addr, "VAULT_TOKEN="+token)
		out, err := cmd.CombinedOutput()
		code := 0
		if err != nil {
			var xe *exec.ExitError
			if !errors.As(err, &xe) {
				t.Fatalf("adopt-all.sh: %v", err)
			}
			code = xe.ExitCode()
		}
		for _, s := range secrets {
			if strings.Contains(string(out), s) {
				t.Fatal("adopt-all.sh printed a client secret")
			}
		}
		return string(out), code
	}
	current := func(en entry) (string, any) {
		st := e.status(en.app, en.conn)
		return str(st, "current_credential_id"), st.Data["current_adopted"]
	}

	e.sim.connector("app-123", "conn-789")
	e.sim.connector("app-999", "conn-1")
	a, b := mk("app-123", "conn-789"), mk("app-999", "conn-1")
	list := writeList("connectors.txt", a, b)
	creates := e.sim.calls()["rotate"]

	out, code := run(list)
	t.Logf("adopt-all.sh (exit %d):\n%s", code, out)
	if code != 0 || !strings.Contains(out, "adopt-all: 2 adopted, 0 failed") {
		t.Errorf("adopt-all.sh of two connectors: exit %d, want 0 and both adopted", code)
	}
	for _, en := range []entry{a, b} {
		if !strings.Contains(out, "adopted "+en.app+"/"+en.conn+": credential "+en.cred.ID+", adopted_at 20") {
			t.Errorf("adopt-all.sh did not report %s/%s adopted", en.app, en.conn)
		}
		if cur, adopted := current(en); cur != en.cred.ID || adopted != true {
			t.Errorf("%s/%s after adopt-all.sh: current %s (adopted %v), want %s adopted", en.app, en.conn, cur, adopted, en.cred.ID)
		}
		if c := e.readCreds(en.app, en.conn); c.clientSecret != en.cred.ClientSecret {
			t.Errorf("%s/%s: the creds read does not serve the adopted secret", en.app, en.conn)
		}
	}
	if got := e.sim.calls()["rotate"]; got != creates {
		t.Errorf("adopt-all.sh made %d credential(s) upstream", got-creates)
	}

	// Again: both are managed now, so both are refused with a 409.
	out, code = run(list)
	t.Logf("adopt-all.sh again (exit %d):\n%s", code, out)
	if code != 1 || !strings.Contains(out, "adopt-all: 0 adopted, 2 failed") || strings.Count(out, "Code: 409") != 2 ||
		!strings.Contains(out, "replace_current") {
		t.Errorf("adopt-all.sh of managed connectors: exit %d, want 1 with a 409 naming replace_current for each", code)
	}
	for _, en := range []entry{a, b} {
		if cur, _ := current(en); cur != en.cred.ID {
			t.Errorf("%s/%s after a refused adoption: current %s, want %s", en.app, en.conn, cur, en.cred.ID)
		}
	}

	// -r replaces a's credential with a new one; a line whose secret file is
	// missing fails; the exit status says so.
	a2 := mk("app-123", "conn-789")
	missing := entry{"app-999", "conn-2", a2.cred, "no-such-file.secret"}
	out, code = run("-r", writeList("replace.txt", a2, missing))
	t.Logf("adopt-all.sh -r (exit %d):\n%s", code, out)
	if code != 1 || !strings.Contains(out, "adopt-all: 1 adopted, 1 failed") || !strings.Contains(out, "FAILED  app-999/conn-2") {
		t.Errorf("adopt-all.sh -r with a missing secret file: exit %d, want 1, one adopted and the other failed", code)
	}
	st := e.status(a2.app, a2.conn)
	if str(st, "current_credential_id") != a2.cred.ID || !slices.Contains(strs(st, "retiring_credential_ids"), a.cred.ID) {
		t.Errorf("%s/%s after adopt-all.sh -r: current %s, retiring %v; want %s current and %s retiring",
			a2.app, a2.conn, str(st, "current_credential_id"), strs(st, "retiring_credential_ids"), a2.cred.ID, a.cred.ID)
	}
	adoptNotStored(t, e, "a line with a missing secret file", missing.app, missing.conn)
}
