package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/hashicorp/vault/api"
)

// devVault is a Vault dev server (in-memory storage) run from the pinned binary.
type devVault struct {
	addr      string
	token     string
	pluginDir string
	cmd       *exec.Cmd
	api       *api.Client
	http      *http.Client // keep-alive client for timed reads
	// up is when the server first answered healthy. Vault's rollback
	// manager starts its one-minute ticker while it unseals, just before:
	// its own periodic runs of every mount fall at about up + k minutes.
	up time.Time
}

// startDevVault starts `vault server -dev` on a free loopback port with
// pluginDir as its plugin directory.
func startDevVault(bin, dir string) (*devVault, error) {
	pluginDir := filepath.Join(dir, "plugins")
	if err := os.MkdirAll(pluginDir, 0o700); err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	v := &devVault{addr: fmt.Sprintf("http://127.0.0.1:%d", port), token: randomHex(16), pluginDir: pluginDir}
	logFile, err := os.Create(filepath.Join(dir, "vault.log"))
	if err != nil {
		return nil, err
	}
	v.cmd = exec.Command(bin, "server", "-dev", "-dev-no-store-token",
		"-dev-root-token-id="+v.token, fmt.Sprintf("-dev-listen-address=127.0.0.1:%d", port),
		"-dev-plugin-dir="+pluginDir, "-log-level=warn")
	v.cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir}
	v.cmd.Stdout, v.cmd.Stderr = logFile, logFile
	v.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := v.cmd.Start(); err != nil {
		return nil, err
	}
	c, err := api.NewClient(&api.Config{Address: v.addr, Timeout: 5 * time.Minute, MaxRetries: 0})
	if err != nil {
		return nil, err
	}
	c.SetToken(v.token)
	v.api = c
	v.http = &http.Client{Transport: &http.Transport{MaxIdleConns: 2000, MaxIdleConnsPerHost: 2000, MaxConnsPerHost: 0}}
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := v.http.Get(v.addr + "/v1/sys/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				v.up = time.Now()
				return v, nil
			}
		}
		if time.Now().After(deadline) {
			v.stop()
			return nil, fmt.Errorf("vault dev server not ready in 60s (log in %s)", logFile.Name())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// stop ends the server and its plugin processes (its process group).
func (v *devVault) stop() {
	if v.cmd != nil && v.cmd.Process != nil {
		_ = syscall.Kill(-v.cmd.Process.Pid, syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = v.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			_ = syscall.Kill(-v.cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
	}
}

// installPlugin copies a plugin binary into the plugin directory, registers
// it by SHA-256 (with version, when set) and mounts it at each path.
func (v *devVault) installPlugin(src, name, version string, paths ...string) (string, error) {
	dst := filepath.Join(v.pluginDir, name)
	sum, err := copyFile(src, dst)
	if err != nil {
		return "", err
	}
	if err := v.api.Sys().RegisterPlugin(&api.RegisterPluginInput{
		Name: name, Type: api.PluginTypeSecrets, Command: name, SHA256: sum, Version: version,
	}); err != nil {
		return "", fmt.Errorf("registering %s: %w", name, err)
	}
	for _, p := range paths {
		if err := v.api.Sys().Mount(p, &api.MountInput{Type: name, Config: api.MountConfigInput{PluginVersion: version}}); err != nil {
			return "", fmt.Errorf("mounting %s at %s: %w", name, p, err)
		}
	}
	return dst, nil
}

// write writes a path with the API client.
func (v *devVault) write(path string, data map[string]any) error {
	_, err := v.api.Logical().Write(path, data)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// get reads path over a kept-alive connection and discards the answer; it
// fails unless Vault answers 200.
func (v *devVault) get(path string) error {
	req, err := http.NewRequest(http.MethodGet, v.addr+"/v1/"+path, nil)
	if err != nil {
		return err
	}
	req.Header.Set("X-Vault-Token", v.token)
	resp, err := v.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("read %s: %s: %s", path, resp.Status, firstLine(string(body)))
	}
	return nil
}

// remount moves a mount and waits until the move finished. Vault runs the
// mount's periodic function (a "rollback") before it moves it: this is how
// the benchmark runs a periodic tick on demand.
func (v *devVault) remount(from, to string) error {
	out, err := v.api.Sys().StartRemountWithContext(context.Background(), from, to)
	if err != nil {
		return err
	}
	for {
		st, err := v.api.Sys().RemountStatus(out.MigrationID)
		if err != nil {
			return err
		}
		switch st.MigrationInfo.MigrationStatus {
		case "success":
			return nil
		case "failure":
			return fmt.Errorf("moving %s to %s failed", from, to)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// nextOwnTick is the first of Vault's own periodic runs (the rollback
// manager's one-minute ticker, started as the server came up) at or after t.
func (v *devVault) nextOwnTick(t time.Time) time.Time {
	n := t.Sub(v.up) / time.Minute
	if next := v.up.Add(n * time.Minute); !next.Before(t) {
		return next
	}
	return v.up.Add((n + 1) * time.Minute)
}

// counters reads Vault's telemetry in the Prometheus format (a dev server
// keeps it, prometheus_retention_time 24h) and returns its unlabelled
// samples: cumulative counts such as vault_barrier_put_count.
func (v *devVault) counters() (map[string]float64, error) {
	req, err := http.NewRequest(http.MethodGet, v.addr+"/v1/sys/metrics?format=prometheus", nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("X-Vault-Token", v.token)
	resp, err := v.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("read sys/metrics: %s: %s", resp.Status, firstLine(string(body)))
	}
	out := map[string]float64{}
	for _, line := range strings.Split(string(body), "\n") {
		name, value, ok := strings.Cut(line, " ")
		if !ok || strings.HasPrefix(name, "#") || strings.Contains(name, "{") {
			continue
		}
		if f, err := strconv.ParseFloat(strings.TrimSpace(value), 64); err == nil {
			out[name] = f
		}
	}
	return out, nil
}

// mounts is the number of secrets engine and auth mounts: Vault's rollback
// manager runs the periodic function of each of them once a minute.
func (v *devVault) mounts() (int, error) {
	m, err := v.api.Sys().ListMounts()
	if err != nil {
		return 0, err
	}
	a, err := v.api.Sys().ListAuth()
	if err != nil {
		return 0, err
	}
	return len(m) + len(a), nil
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	if len(s) > 200 {
		s = s[:200]
	}
	return s
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

// copyFile copies src to dst (mode 0755) and returns dst's SHA-256.
func copyFile(src, dst string) (string, error) {
	in, err := os.Open(src)
	if err != nil {
		return "", err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o755)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	if _, err := io.Copy(io.MultiWriter(out, h), in); err != nil {
		out.Close()
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), out.Close()
}
