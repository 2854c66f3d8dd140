//go:build e2e

package e2e

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"
)

// pluginName is the plugin's name in Vault's catalog; mountPath is where the
// suite mounts it.
const (
	pluginName = "vault-plugin-c1"
	mountPath  = "c1"
)

// vaultServer is a real Vault server run from VAULT_BIN: file storage,
// initialised with one unseal key, or a node of a Raft cluster (see
// vaultOptions and raft_test.go).
type vaultServer struct {
	t          *testing.T
	name       string // for messages: "vault" or the Raft node id
	dir        string
	pluginDir  string
	configPath string
	logPath    string
	addr       string // http://127.0.0.1:port
	proc       *proc

	unsealKeys []string // the threshold's worth of Shamir key shares
	rootToken  string
	api        *api.Client
}

// vaultOptions adjust a Vault server's configuration.
type vaultOptions struct {
	// raftNodeID selects integrated storage (Raft) under this node id, with
	// cluster_addr on a loopback port of its own; empty selects file storage.
	raftNodeID string
	// rawStorage serves sys/raw, which reads and writes storage beneath the
	// mounts (the suite inspects the engine's WAL entries and records with it).
	rawStorage bool
}

// startVault writes the server config, starts the server, initialises it
// with one key share and unseals it.
func startVault(t *testing.T, dir string, o vaultOptions) *vaultServer {
	t.Helper()
	v := newVaultServer(t, dir, o)
	v.initialize(1, 1)
	v.unseal(true)
	return v
}

// newVaultServer writes the configuration of a server whose files live in
// dir and starts it, uninitialised and sealed.
func newVaultServer(t *testing.T, dir string, o vaultOptions) *vaultServer {
	t.Helper()
	v := &vaultServer{
		t:          t,
		name:       "vault",
		dir:        dir,
		pluginDir:  filepath.Join(dir, "plugins"),
		configPath: filepath.Join(dir, "vault.hcl"),
		logPath:    filepath.Join(dir, "vault.log"),
	}
	if o.raftNodeID != "" {
		v.name = o.raftNodeID
	}
	for _, d := range []string{v.pluginDir, filepath.Join(dir, "data")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	port := freePort(t)
	v.addr = fmt.Sprintf("http://127.0.0.1:%d", port)
	storage := fmt.Sprintf("storage \"file\" {\n  path = %q\n}\n", filepath.Join(dir, "data"))
	listenerExtra, clusterAddr := "", ""
	if o.raftNodeID != "" {
		// Every node answers on its own loopback ports; Raft and request
		// forwarding use the cluster port (TLS with Vault's own certificates).
		// performance_multiplier 2 (Vault's default is 5) elects a new leader
		// within a few seconds, yet tolerates a loaded machine's pauses.
		clusterPort := freePort(t)
		storage = fmt.Sprintf("storage \"raft\" {\n  path    = %q\n  node_id = %q\n  performance_multiplier = 2\n}\n",
			filepath.Join(dir, "data"), o.raftNodeID)
		listenerExtra = fmt.Sprintf("\n  cluster_address = \"127.0.0.1:%d\"", clusterPort)
		clusterAddr = fmt.Sprintf("cluster_addr     = \"https://127.0.0.1:%d\"\n", clusterPort)
	}
	config := fmt.Sprintf(`%s
listener "tcp" {
  address     = "127.0.0.1:%d"
  tls_disable = true%s
}

plugin_directory = %q
disable_mlock    = true
api_addr         = %q
%sraw_storage_endpoint = %t
ui               = false
log_level        = "debug"
`, storage, port, listenerExtra, v.pluginDir, v.addr, clusterAddr, o.rawStorage)
	if err := os.WriteFile(v.configPath, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	v.start()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("%s server log (%s), last lines:\n%s", v.name, v.logPath, logTail(v.logPath, 60))
		}
	})
	return v
}

// start runs the server process and waits until its API answers (sealed or not).
func (v *vaultServer) start() {
	v.t.Helper()
	v.proc = startProc(v.t, v.name+" server", v.logPath, cleanEnv(), vaultBin, "server", "-config="+v.configPath)
	v.waitHealth("listening", "?standbyok=true&sealedcode=200&uninitcode=200", 60*time.Second)
}

// waitHealth polls sys/health with query until it answers 200.
func (v *vaultServer) waitHealth(what, query string, timeout time.Duration) {
	v.t.Helper()
	hc := &http.Client{Timeout: 5 * time.Second}
	deadline := time.Now().Add(timeout)
	last := ""
	for {
		if v.proc.exited() {
			v.t.Fatalf("%s server exited while waiting until %s; log:\n%s", v.name, what, logTail(v.logPath, 60))
		}
		resp, err := hc.Get(v.addr + "/v1/sys/health" + query)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		if time.Now().After(deadline) {
			v.t.Fatalf("%s server not %s within %s (last: %s); log:\n%s", v.name, what, timeout, last, logTail(v.logPath, 60))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// initialize runs `vault operator init`, splitting the root key into shares
// Shamir key shares of which threshold unseal, and keeps threshold shares and
// the root token (never printed).
func (v *vaultServer) initialize(shares, threshold int) {
	v.t.Helper()
	var out struct {
		UnsealKeys []string `json:"unseal_keys_b64"`
		RootToken  string   `json:"root_token"`
	}
	stdout, stderr, err := v.run(nil, "operator", "init", fmt.Sprintf("-key-shares=%d", shares),
		fmt.Sprintf("-key-threshold=%d", threshold), "-format=json")
	if err != nil {
		v.t.Fatalf("vault operator init: %v: %s", err, stderr)
	}
	if err := json.Unmarshal([]byte(stdout), &out); err != nil || len(out.UnsealKeys) != shares || out.RootToken == "" {
		v.t.Fatalf("vault operator init: unexpected answer shape (%v)", err)
	}
	v.useKeys(out.UnsealKeys[:threshold], out.RootToken)
}

// useKeys sets the unseal key shares and the root token of the server's
// cluster, and the API client that uses the token.
func (v *vaultServer) useKeys(unsealKeys []string, rootToken string) {
	v.t.Helper()
	v.unsealKeys, v.rootToken = unsealKeys, rootToken
	c, err := api.NewClient(&api.Config{Address: v.addr, MaxRetries: 0, Timeout: 60 * time.Second})
	if err != nil {
		v.t.Fatal(err)
	}
	c.SetToken(v.rootToken)
	c.ClearNamespace()
	v.api = c
}

// unseal runs `vault operator unseal` with each key share and waits until
// the node is active, or, with active false, unsealed as a standby.
func (v *vaultServer) unseal(active bool) {
	v.t.Helper()
	for _, key := range v.unsealKeys {
		if _, stderr, err := v.run(nil, "operator", "unseal", key); err != nil {
			v.t.Fatalf("%s: vault operator unseal: %v: %s", v.name, err, stderr)
		}
	}
	if active {
		v.waitHealth("unsealed and active", "", 60*time.Second)
	} else {
		v.waitHealth("unsealed", "?standbyok=true", 60*time.Second)
	}
}

// crashRestart kills the server and its plugin processes with SIGKILL, starts
// the server again on the same storage and unseals it.
func (v *vaultServer) crashRestart(pluginBinary string) {
	v.t.Helper()
	before := processesRunning(pluginBinary)
	if len(before) == 0 {
		v.t.Errorf("no plugin process of %s was running before the restart", pluginBinary)
	}
	v.kill()
	for _, pid := range processesRunning(pluginBinary) {
		v.t.Errorf("plugin process %d still running after the server and its group were killed", pid)
	}
	v.t.Logf("vault server and %d plugin process(es) killed; starting again", len(before))
	v.start()
	v.unseal(true)
}

// kill ends the server and its plugin processes at once with SIGKILL, like a
// crash of the machine's Vault service.
func (v *vaultServer) kill() { v.proc.kill(v.t) }

// run executes the vault CLI against this server with the root token.
// stdin, if not nil, is fed to the command.
func (v *vaultServer) run(stdin []byte, args ...string) (stdout, stderr string, err error) {
	return v.runAs(v.rootToken, stdin, args...)
}

// runAs executes the vault CLI with token.
func (v *vaultServer) runAs(token string, stdin []byte, args ...string) (stdout, stderr string, err error) {
	cmd := exec.Command(vaultBin, args...)
	env := []string{"VAULT_ADDR=" + v.addr}
	if token != "" {
		env = append(env, "VAULT_TOKEN="+token)
	}
	cmd.Env = cleanEnv(env...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	err = cmd.Run()
	return o.String(), e.String(), err
}

// cli runs the vault CLI and fails the test unless it succeeds. It returns
// stdout, which the caller must not print when it may hold a secret.
func (v *vaultServer) cli(args ...string) string {
	v.t.Helper()
	stdout, stderr, err := v.run(nil, args...)
	if err != nil {
		v.t.Fatalf("vault %s: %v: %s", redactArgs(args), err, strings.TrimSpace(stderr))
	}
	return stdout
}

// cliJSON runs the vault CLI (args must include -format=json) and decodes
// its output into out.
func (v *vaultServer) cliJSON(out any, args ...string) {
	v.t.Helper()
	stdout := v.cli(args...)
	if err := json.Unmarshal([]byte(stdout), out); err != nil {
		v.t.Fatalf("vault %s: output is not the expected JSON: %v", redactArgs(args), err)
	}
}

// cliRead runs `vault read -format=json path` and returns the secret;
// errNotFound when the CLI says "No value found".
func (v *vaultServer) cliRead(path string) (*api.Secret, error) {
	v.t.Helper()
	stdout, stderr, err := v.run(nil, "read", "-format=json", path)
	if err != nil {
		if strings.Contains(stderr, "No value found at "+path) {
			return nil, errNotFound
		}
		return nil, fmt.Errorf("vault read %s: %v: %s", path, err, strings.TrimSpace(stderr))
	}
	var s api.Secret
	if err := json.Unmarshal([]byte(stdout), &s); err != nil {
		return nil, fmt.Errorf("vault read %s: output is not a JSON secret: %v", path, err)
	}
	return &s, nil
}

// redactArgs is a CLI command line for messages: values of key=value
// arguments are hidden, since they may be secrets.
func redactArgs(args []string) string {
	out := make([]string, len(args))
	for i, a := range args {
		if k, _, ok := strings.Cut(a, "="); ok && !strings.HasPrefix(a, "-") {
			a = k + "=…"
		}
		out[i] = a
	}
	return strings.Join(out, " ")
}

// installPlugin copies PLUGIN_BIN into the plugin directory, registers it by
// SHA-256 with PLUGIN_VERSION and mounts it at c1/ with that version.
func (v *vaultServer) installPlugin() {
	v.t.Helper()
	v.placePlugin()
	v.registerPlugin()
}

// placePlugin copies PLUGIN_BIN into the plugin directory.
func (v *vaultServer) placePlugin() {
	v.t.Helper()
	copyFile(v.t, pluginBin, v.pluginPath(), 0o755)
}

// registerPlugin registers the placed plugin binary by SHA-256 with
// PLUGIN_VERSION and mounts it at c1/ with that version.
func (v *vaultServer) registerPlugin() {
	v.t.Helper()
	v.cli("plugin", "register", "-sha256="+sha256File(v.t, v.pluginPath()), "-version="+pluginVersion, "secret", pluginName)
	v.cli("secrets", "enable", "-path="+mountPath, "-plugin-version="+pluginVersion, pluginName)
}

// pluginPath is the path of the plugin binary as installed.
func (v *vaultServer) pluginPath() string { return filepath.Join(v.pluginDir, pluginName) }

// read reads path with the API client, failing the test on error; nil when
// Vault answers 404.
func (v *vaultServer) read(path string) *api.Secret {
	v.t.Helper()
	s, err := v.api.Logical().Read(path)
	if err != nil {
		v.t.Fatalf("read %s: %v", path, err)
	}
	return s
}

// write writes path with the API client, failing the test on error.
func (v *vaultServer) write(path string, data map[string]any) *api.Secret {
	v.t.Helper()
	s, err := v.api.Logical().Write(path, data)
	if err != nil {
		v.t.Fatalf("write %s: %v", path, err)
	}
	return s
}

// str is a string field of a secret's data ("" when absent).
func str(s *api.Secret, key string) string {
	if s == nil || s.Data == nil {
		return ""
	}
	v, _ := s.Data[key].(string)
	return v
}

// strs is a list-of-strings field of a secret's data.
func strs(s *api.Secret, key string) []string {
	if s == nil || s.Data == nil {
		return nil
	}
	raw, _ := s.Data[key].([]any)
	out := make([]string, 0, len(raw))
	for _, r := range raw {
		if v, ok := r.(string); ok {
			out = append(out, v)
		}
	}
	return out
}

// ---- a complete environment: simulator, Vault and the mounted plugin ----

// c1env is a simulator and a Vault server with the plugin mounted at c1/ and
// a C1 API client registered upstream.
type c1env struct {
	t   *testing.T
	dir string
	sim *sim
	v   *vaultServer

	c1ClientID, c1ClientSecret string
	aitronosKey                string
}

// envOptions adjust newEnv.
type envOptions struct {
	// credentialTTL is the simulator's lifetime of new credentials.
	credentialTTL time.Duration
	// config, when not nil, is written to c1/config with the upstream
	// settings (URLs, client, key) added.
	config map[string]any
	// rawStorage serves Vault's sys/raw (see vaultOptions).
	rawStorage bool
	// raft runs Vault on integrated storage (a one-node Raft cluster)
	// instead of file storage. A test that kills Vault with SIGKILL under
	// write load needs it: the file backend writes a temporary file and then
	// renames it, and a temporary file left by a kill between the two is
	// listed as a key whose value does not decrypt, so that the restarted
	// Vault fails its lease restore and seals itself.
	raft bool
}

// newEnv starts a simulator and a Vault server, and mounts the plugin.
func newEnv(t *testing.T, o envOptions) *c1env {
	t.Helper()
	dir := t.TempDir()
	var simArgs []string
	if o.credentialTTL > 0 {
		simArgs = append(simArgs, "-credential-ttl", o.credentialTTL.String())
	}
	s := startSim(t, dir, simArgs...)
	vo := vaultOptions{rawStorage: o.rawStorage}
	if o.raft {
		vo.raftNodeID = "vault"
	}
	v := startVault(t, dir, vo)
	v.installPlugin()
	e := envOn(t, dir, s, v)
	if o.config != nil {
		e.configure(o.config)
	}
	return e
}

// envOn is the environment of a running simulator and a Vault server (or
// the node of a cluster that e.v names) with the plugin mounted: it registers
// a C1 API client and an Aitronos key upstream.
func envOn(t *testing.T, dir string, s *sim, v *vaultServer) *c1env {
	t.Helper()
	e := &c1env{t: t, dir: dir, sim: s, v: v}
	e.c1ClientID, e.c1ClientSecret = e.sim.c1Client("vault-e2e-" + randID(6) + "@127.0.0.1/pcc")
	e.aitronosKey = e.sim.aitronosKey()
	return e
}

// configure writes c1/config: the upstream settings (URLs, client, key) and
// config.
func (e *c1env) configure(config map[string]any) {
	e.t.Helper()
	cfg := e.upstreamConfig()
	for k, val := range config {
		cfg[k] = val
	}
	e.v.write(mountPath+"/config", cfg)
}

// upstreamConfig is the part of c1/config that points at the simulator.
func (e *c1env) upstreamConfig() map[string]any {
	return map[string]any{
		"c1_client_id":     e.c1ClientID,
		"c1_client_secret": e.c1ClientSecret,
		"c1_server_url":    e.sim.url,
		"aitronos_url":     e.sim.url,
		"aitronos_api_key": e.aitronosKey,
	}
}

// connector makes a connector known upstream and registers it in Vault with
// the API client; it returns the first credential's id.
func (e *c1env) register(app, conn string) string {
	e.t.Helper()
	e.sim.connector(app, conn)
	s := e.v.write(mountPath+"/creds/"+app+"/"+conn, nil)
	id := str(s, "credential_id")
	if id == "" {
		e.t.Fatalf("register %s/%s: the answer has no credential_id", app, conn)
	}
	if _, ok := s.Data["client_secret"]; ok {
		e.t.Errorf("register %s/%s: the answer carries client_secret; it must never", app, conn)
	}
	return id
}

// status reads rotate/<app>/<conn>.
func (e *c1env) status(app, conn string) *api.Secret {
	e.t.Helper()
	s := e.v.read(mountPath + "/rotate/" + app + "/" + conn)
	if s == nil {
		e.t.Fatalf("rotate/%s/%s: not found", app, conn)
	}
	return s
}

// creds is a credential as served by a creds read (secret kept in memory only).
type creds struct {
	credentialID, clientID, clientSecret string
	expiresTime                          string
	leaseID                              string
	ttl                                  time.Duration
	renewable                            bool
	readAt, answeredAt                   time.Time // before and after the request
}

// readCreds reads creds/<app>/<conn> with the API client.
func (e *c1env) readCreds(app, conn string) creds {
	e.t.Helper()
	c, err := e.tryReadCreds(app, conn)
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

func (e *c1env) tryReadCreds(app, conn string) (creds, error) {
	at := time.Now()
	s, err := e.v.api.Logical().Read(mountPath + "/creds/" + app + "/" + conn)
	if err != nil {
		return creds{}, fmt.Errorf("read creds/%s/%s: %v", app, conn, err)
	}
	if s == nil {
		return creds{}, errors.New("read creds/" + app + "/" + conn + ": not found")
	}
	c := creds{
		credentialID: str(s, "credential_id"), clientID: str(s, "client_id"),
		clientSecret: str(s, "client_secret"), expiresTime: str(s, "expires_time"),
		leaseID: s.LeaseID, ttl: time.Duration(s.LeaseDuration) * time.Second,
		renewable: s.Renewable, readAt: at, answeredAt: time.Now(),
	}
	if c.credentialID == "" || c.clientID == "" || c.clientSecret == "" || c.leaseID == "" {
		return c, fmt.Errorf("read creds/%s/%s: credential_id, client_id, client_secret or lease missing", app, conn)
	}
	return c, nil
}

// agentTokenAuth is the part of a Vault Agent config that logs in with the
// token in tokenFile and keeps retrying while Vault is unreachable.
func agentTokenAuth(tokenFile string) string {
	return fmt.Sprintf(`
auto_auth {
  method "token_file" {
    config = {
      token_file_path = %q
    }
  }
}

template_config {
  exit_on_retry_failure = false
}
`, tokenFile)
}
