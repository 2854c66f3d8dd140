//go:build e2e

package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"
)

// longLivedConfig makes a lease end at the credential's expiry: credentials
// live 2h upstream, rotation by age is off, rotation is due 10m before
// expiry and the grace is 1h.
var longLivedConfig = map[string]any{"connector_rotation_period": "0", "rotate_before_expiry": "10m", "revoke_grace": "1h"}

// TestRestartKeepsState kills Vault and the plugin process, starts Vault again
// on the same storage and checks that the engine's state, its leases and its
// schedules survived and that credentials are still served.
func TestRestartKeepsState(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{credentialTTL: 2 * time.Hour, config: longLivedConfig})
	const app, conn = "app-restart", "conn-1"
	first := e.register(app, conn)
	rot := e.v.write(mountPath+"/rotate/"+app+"/"+conn, nil)
	second := str(rot, "credential_id")
	c := e.readCreds(app, conn)
	if c.credentialID != second {
		t.Fatalf("creds read: %s, want %s", c.credentialID, second)
	}
	o := e.readOAuth(t)
	before := e.status(app, conn)
	leaseBefore, err := e.v.api.Sys().Lookup(c.leaseID)
	if err != nil {
		t.Fatalf("sys/leases/lookup before restart: %v", err)
	}
	upBefore := len(e.sim.credentials(app, conn))

	e.v.crashRestart(e.v.pluginPath())

	// Leases: the lease issued before the restart is still known, unchanged.
	leaseAfter, err := e.v.api.Sys().Lookup(c.leaseID)
	if err != nil || leaseAfter == nil {
		t.Fatalf("sys/leases/lookup after restart: %v", err)
	}
	if b, a := fmt.Sprint(leaseBefore.Data["expire_time"]), fmt.Sprint(leaseAfter.Data["expire_time"]); a != b {
		t.Errorf("lease expire_time changed across the restart: %s -> %s", b, a)
	}
	if n, ok := leaseAfter.Data["ttl"].(json.Number); !ok {
		t.Errorf("lease ttl after restart: %v", leaseAfter.Data["ttl"])
	} else if ttl, _ := n.Int64(); ttl <= 0 {
		t.Errorf("lease ttl after restart: %v", leaseAfter.Data["ttl"])
	}
	if _, err := e.v.api.Sys().Lookup(o.LeaseID); err != nil {
		t.Errorf("the oauth lease is gone after the restart: %v", err)
	}

	// State and schedules.
	after := e.status(app, conn)
	for _, k := range []string{"current_credential_id", "next_rotation", "last_rotation", "registered_at", "current_expires_time"} {
		if str(before, k) != str(after, k) {
			t.Errorf("rotate status %s changed across the restart: %q -> %q", k, str(before, k), str(after, k))
		}
	}
	if b, a := strs(before, "retiring_credential_ids"), strs(after, "retiring_credential_ids"); !slices.Equal(a, b) || !slices.Contains(a, first) {
		t.Errorf("retiring credentials changed across the restart: %v -> %v (want %s retiring)", b, a, first)
	}
	if b, a := fmt.Sprint(before.Data["pending_revocations"]), fmt.Sprint(after.Data["pending_revocations"]); a != b {
		t.Errorf("pending revocations changed across the restart: %s -> %s", b, a)
	}
	if str(after, "next_rotation") == "" {
		t.Error("no next_rotation after the restart")
	}

	// Credentials still served: the same one, still valid upstream.
	c2 := e.readCreds(app, conn)
	if c2.credentialID != c.credentialID || c2.clientID != c.clientID || c2.clientSecret != c.clientSecret {
		t.Errorf("creds read after restart serves %s, want the same credential %s", c2.credentialID, c.credentialID)
	}
	if !e.sim.valid(c2.clientID, c2.clientSecret) {
		t.Error("the credential served after the restart does not authenticate upstream")
	}
	if n := len(e.sim.credentials(app, conn)); n != upBefore {
		t.Errorf("the restart created credentials upstream: %d -> %d", upBefore, n)
	}
	cfg := e.v.read(mountPath + "/config")
	if cfg == nil || cfg.Data["c1_client_secret_set"] != true || cfg.Data["aitronos_api_key_set"] != true {
		t.Error("config after the restart lacks its secrets")
	}
	var list []string
	e.v.cliJSON(&list, "list", "-format=json", mountPath+"/creds")
	if !slices.Equal(list, []string{app + "/" + conn}) {
		t.Errorf("list after restart = %v", list)
	}
	if len(processesRunning(e.v.pluginPath())) == 0 {
		t.Error("no plugin process runs after the restart")
	}
	// The engine still rotates.
	rot = e.v.write(mountPath+"/rotate/"+app+"/"+conn, nil)
	if str(rot, "previous_credential_id") != second {
		t.Errorf("rotate after restart replaced %q, want %s", str(rot, "previous_credential_id"), second)
	}
}

// readOAuth registers an Aitronos connection and reads its token.
func (e *c1env) readOAuth(t *testing.T) *api.Secret {
	t.Helper()
	id := "ca_" + randID(10)
	e.sim.aitronosConnection(id, "", time.Now().Add(time.Hour))
	s := e.v.read(mountPath + "/oauth/by-connection/" + id)
	if s == nil || s.LeaseID == "" {
		t.Fatal("oauth/by-connection read: no lease")
	}
	return s
}

// TestPluginUpgrade registers a second version of the plugin, moves the mount
// to it and reloads, and checks that the new version runs and serves the
// credentials the old one created.
func TestPluginUpgrade(t *testing.T) {
	t.Parallel()
	const newVersion = "v9.9.9"
	if pluginVersion == newVersion {
		t.Fatalf("PLUGIN_VERSION is %s, the version this test upgrades to", newVersion)
	}
	e := newEnv(t, envOptions{credentialTTL: 2 * time.Hour, config: longLivedConfig})
	const app, conn = "app-upgrade", "conn-1"
	e.register(app, conn)
	c := e.readCreds(app, conn)

	// The same plugin built with another version string, in the plugin directory.
	newName := pluginName + "-" + newVersion
	newBin := filepath.Join(e.v.pluginDir, newName)
	buildPlugin(t, newVersion, newBin)
	sum := sha256File(t, newBin)
	e.v.cli("plugin", "register", "-sha256="+sum, "-version="+newVersion, "-command="+newName, "secret", pluginName)

	// -format=json prints the plugin's fields at the top level.
	type pluginInfo struct {
		Name    string `json:"name"`
		Version string `json:"version"`
		SHA256  string `json:"sha256"`
		Command string `json:"command"`
		Builtin bool   `json:"builtin"`
	}
	var info pluginInfo
	e.v.cliJSON(&info, "plugin", "info", "-format=json", "-version="+newVersion, "secret", pluginName)
	if info.Name != pluginName || info.Version != newVersion || info.SHA256 != sum || info.Command != newName || info.Builtin {
		t.Errorf("vault plugin info -version=%s: %+v", newVersion, info)
	}
	if text := e.v.cli("plugin", "info", "-version="+newVersion, "secret", pluginName); !strings.Contains(text, newVersion) {
		t.Errorf("vault plugin info -version=%s does not show the version:\n%s", newVersion, text)
	}
	info = pluginInfo{}
	e.v.cliJSON(&info, "plugin", "info", "-format=json", "-version="+pluginVersion, "secret", pluginName)
	if info.Version != pluginVersion || info.SHA256 != sha256File(t, e.v.pluginPath()) {
		t.Errorf("the first version %s is no longer registered as it was: %+v", pluginVersion, info)
	}
	if v := e.runningVersion(t); v != pluginVersion {
		t.Errorf("running version before the upgrade: %q, want %q", v, pluginVersion)
	}

	e.v.cli("secrets", "tune", "-plugin-version="+newVersion, mountPath+"/")
	e.v.cli("plugin", "reload", "-plugin="+pluginName)

	// The mount now runs the new version...
	waitFor(t, "the new plugin version running", 60*time.Second, time.Second, func() (bool, string) {
		v := e.runningVersion(t)
		return v == newVersion, "running version " + v
	})
	list := e.v.cli("secrets", "list", "-detailed")
	found := false
	for _, line := range strings.Split(list, "\n") {
		if strings.HasPrefix(line, mountPath+"/ ") {
			found = true
			if !strings.Contains(line, newVersion) {
				t.Errorf("vault secrets list -detailed, c1/ line lacks %s:\n%s", newVersion, line)
			}
		}
	}
	if !found {
		t.Errorf("vault secrets list -detailed has no c1/ line:\n%s", list)
	}

	// ...and serves what the old one stored.
	c2 := e.readCreds(app, conn)
	if c2.credentialID != c.credentialID || c2.clientSecret != c.clientSecret {
		t.Errorf("after the upgrade creds read serves %s, want %s", c2.credentialID, c.credentialID)
	}
	if !e.sim.valid(c2.clientID, c2.clientSecret) {
		t.Error("the credential served after the upgrade does not authenticate upstream")
	}
	rot := e.v.write(mountPath+"/rotate/"+app+"/"+conn, nil)
	if str(rot, "previous_credential_id") != c.credentialID {
		t.Errorf("rotate after the upgrade replaced %q, want %s", str(rot, "previous_credential_id"), c.credentialID)
	}
	if c3 := e.readCreds(app, conn); !e.sim.valid(c3.clientID, c3.clientSecret) {
		t.Error("the credential rotated by the new version does not authenticate upstream")
	}
	waitFor(t, "only the new plugin binary running", 30*time.Second, time.Second, func() (bool, string) {
		n, o := processesRunning(newBin), processesRunning(e.v.pluginPath())
		return len(n) > 0 && len(o) == 0, fmt.Sprintf("new version processes %v, old version processes %v", n, o)
	})
}

// runningVersion is the plugin version the c1/ mount runs, per `vault secrets list -detailed`.
func (e *c1env) runningVersion(t *testing.T) string {
	t.Helper()
	var mounts map[string]struct {
		Type           string `json:"type"`
		PluginVersion  string `json:"plugin_version"`
		RunningVersion string `json:"running_plugin_version"`
	}
	e.v.cliJSON(&mounts, "secrets", "list", "-detailed", "-format=json")
	m, ok := mounts[mountPath+"/"]
	if !ok {
		t.Fatal("vault secrets list has no c1/ mount")
	}
	if m.PluginVersion != "" && m.RunningVersion != "" && m.PluginVersion != m.RunningVersion {
		return m.RunningVersion + " (configured " + m.PluginVersion + ")"
	}
	return m.RunningVersion
}

// buildPlugin builds the plugin with the given version string into out, the
// way `make build` does, reusing the build cache.
func buildPlugin(t *testing.T, version, out string) {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	start := time.Now()
	cmd := exec.Command(goBin, "build", "-trimpath",
		"-ldflags", "-X github.com/vault-plugin-c1/vault-plugin-c1.Version="+version,
		"-o", out, "./cmd/vault-plugin-c1")
	cmd.Dir = moduleRoot(t)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	var outb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &outb, &outb
	if err := cmd.Run(); err != nil {
		t.Fatalf("go build of the plugin as %s: %v\n%s", version, err, outb.String())
	}
	t.Logf("built the plugin as %s in %s", version, time.Since(start).Round(time.Second))
}
