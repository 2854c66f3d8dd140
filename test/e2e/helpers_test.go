//go:build e2e

package e2e

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Binaries and version under test, from the environment (see doc.go).
var (
	vaultBin      string
	pluginBin     string
	simBin        string
	standinBin    string
	pluginVersion string
)

func TestMain(m *testing.M) {
	var missing []string
	get := func(name string, file bool) string {
		v := strings.TrimSpace(os.Getenv(name))
		if v == "" {
			missing = append(missing, name+" is not set")
			return ""
		}
		if file {
			abs, err := filepath.Abs(v)
			if err == nil {
				v = abs
			}
			if st, err := os.Stat(v); err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
				missing = append(missing, fmt.Sprintf("%s=%s is not an executable file", name, v))
			}
		}
		return v
	}
	vaultBin = get("VAULT_BIN", true)
	pluginBin = get("PLUGIN_BIN", true)
	simBin = get("SIM_BIN", true)
	standinBin = get("STANDIN_BIN", true)
	pluginVersion = get("PLUGIN_VERSION", false)
	if len(missing) > 0 {
		fmt.Fprintf(os.Stderr, "FAIL: the e2e suite needs real binaries (run `make e2e`, which builds and sets them):\n  %s\n",
			strings.Join(missing, "\n  "))
		os.Exit(1)
	}
	os.Exit(m.Run())
}

// ---- processes ----

// proc is a process the suite started, in its own process group so that it
// and everything it spawns (Vault's plugin processes, Agent's template
// commands) can be stopped together.
type proc struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	done    chan struct{}
	mu      sync.Mutex
	stopped bool
}

// cleanEnv is the suite's environment without any VAULT_* variable, so that
// the caller's own Vault settings never leak into the processes started.
func cleanEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "VAULT_") {
			continue
		}
		env = append(env, kv)
	}
	return append(env, extra...)
}

// startProc starts bin with args, appending its output to logPath. The
// process is stopped in t.Cleanup if the test has not stopped it.
func startProc(t *testing.T, name, logPath string, env []string, bin string, args ...string) *proc {
	t.Helper()
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatalf("%s: log file: %v", name, err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	cmd.Stdout = logf
	cmd.Stderr = logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logf.Close()
		t.Fatalf("%s: start %s: %v", name, bin, err)
	}
	p := &proc{name: name, cmd: cmd, logPath: logPath, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		logf.Close()
		close(p.done)
	}()
	t.Cleanup(func() { p.stop(t) })
	return p
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

// exited reports whether the process has ended.
func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop ends the process gracefully (SIGTERM, then SIGKILL after 30 s) and
// then kills whatever is left in its process group.
func (p *proc) stop(t *testing.T) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped {
		return
	}
	p.stopped = true
	pgid := p.pid()
	if !p.exited() {
		_ = syscall.Kill(p.pid(), syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(30 * time.Second):
			t.Logf("%s: did not stop within 30s of SIGTERM; killing it", p.name)
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
			<-p.done
		}
	}
	killGroup(t, p.name, pgid)
}

// kill ends the process and its whole group at once with SIGKILL, like a crash.
func (p *proc) kill(t *testing.T) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped {
		return
	}
	p.stopped = true
	_ = syscall.Kill(p.pid(), syscall.SIGKILL)
	<-p.done
	killGroup(t, p.name, p.pid())
}

// killGroup kills the processes left in process group pgid and waits until
// none is left.
func killGroup(t *testing.T, name string, pgid int) {
	left := groupMembers(pgid)
	if len(left) == 0 {
		return
	}
	t.Logf("%s: killing %d leftover process(es) of its group: %v", name, len(left), left)
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) && len(groupMembers(pgid)) > 0 {
		time.Sleep(50 * time.Millisecond)
	}
	if left := groupMembers(pgid); len(left) > 0 {
		t.Errorf("%s: processes %v of group %d survived SIGKILL", name, left, pgid)
	}
}

// groupMembers lists the live (not zombie) processes of process group pgid.
func groupMembers(pgid int) []int {
	var pids []int
	for _, st := range procStats() {
		if st.pgrp == pgid && st.state != "Z" {
			pids = append(pids, st.pid)
		}
	}
	return pids
}

type procStat struct {
	pid, ppid, pgrp int
	state           string
	exe             string
}

// procStats reads /proc for every process's pid, parent, group, state and
// executable.
func procStats() []procStat {
	ents, _ := os.ReadDir("/proc")
	var out []procStat
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) < 3 {
			continue
		}
		ppid, _ := strconv.Atoi(f[1])
		pgrp, _ := strconv.Atoi(f[2])
		exe, _ := os.Readlink(filepath.Join("/proc", e.Name(), "exe"))
		out = append(out, procStat{pid: pid, ppid: ppid, pgrp: pgrp, state: f[0], exe: exe})
	}
	return out
}

// processesRunning lists the live processes whose executable is path.
func processesRunning(path string) []int {
	var pids []int
	for _, st := range procStats() {
		if st.state != "Z" && strings.TrimSuffix(st.exe, " (deleted)") == path {
			pids = append(pids, st.pid)
		}
	}
	return pids
}

// logTail is the end of a log file, for failure messages. Vault and the
// simulator never log secret values.
func logTail(path string, lines int) string {
	f, err := os.Open(path)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	defer f.Close()
	var all []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		all = append(all, sc.Text())
	}
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	return strings.Join(all, "\n")
}

// ---- small helpers ----

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// randID is a random identifier of n lowercase letters and digits.
func randID(n int) string { return randFrom("abcdefghijklmnopqrstuvwxyz0123456789", n) }

// randAlnum is n random letters and digits, mixed case.
func randAlnum(n int) string {
	return randFrom("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", n)
}

// randFrom is n random characters of alphabet.
func randFrom(alphabet string, n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

// copyFile copies src to dst with mode.
func copyFile(t *testing.T, src, dst string, mode os.FileMode) {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatalf("copy %s: %v", src, err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
	if err != nil {
		t.Fatalf("copy to %s: %v", dst, err)
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		t.Fatalf("copy %s to %s: %v", src, dst, err)
	}
	if err := out.Close(); err != nil {
		t.Fatalf("copy to %s: %v", dst, err)
	}
}

// sha256File is the hex SHA-256 of a file.
func sha256File(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("sha256 %s: %v", path, err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatalf("sha256 %s: %v", path, err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// waitFor polls cond every interval until it reports true or the deadline
// passes; then the test fails with what cond last said.
func waitFor(t *testing.T, what string, timeout, interval time.Duration, cond func() (bool, string)) {
	t.Helper()
	start := time.Now()
	deadline := start.Add(timeout)
	last := ""
	for {
		ok, status := cond()
		if ok {
			t.Logf("%s: after %s", what, time.Since(start).Round(time.Second))
			return
		}
		if status != last && status != "" {
			t.Logf("%s: waiting: %s", what, status)
			last = status
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not reached within %s; last state: %s", what, timeout, status)
		}
		time.Sleep(interval)
	}
}

// parseTime parses an RFC 3339 time, failing the test on error.
func parseTime(t *testing.T, what, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatalf("%s: %q is not an RFC 3339 time: %v", what, s, err)
	}
	return v
}

// near fails the test when got and want differ by more than tol.
func near(t *testing.T, what string, got, want, tol time.Duration) {
	t.Helper()
	d := got - want
	if d < 0 {
		d = -d
	}
	if d > tol {
		t.Errorf("%s: got %s, want %s (± %s)", what, got, want, tol)
	}
}

// leaseEndsAt checks that a lease of ttl, issued by Vault at some moment
// between before and after, ends at end: Vault's TTL is the time from its
// "now" to end, truncated to whole seconds, so it must lie within
// [end-after-1s, end-before]. A further second of slack allows for clock
// rounding in the answer's times.
func leaseEndsAt(t *testing.T, what string, ttl time.Duration, end, before, after time.Time) {
	t.Helper()
	lo, hi := end.Sub(after)-2*time.Second, end.Sub(before)+time.Second
	if ttl < lo || ttl > hi {
		t.Errorf("%s: lease TTL %s, want the time to %s: between %s and %s",
			what, ttl, end.Format(time.RFC3339), lo.Round(time.Second), hi.Round(time.Second))
	} else {
		t.Logf("%s: lease TTL %s ends at %s as expected", what, ttl, end.Format(time.RFC3339))
	}
}

// envFile parses KEY=VALUE lines.
func envFile(b []byte) map[string]string {
	out := map[string]string{}
	for _, line := range bytes.Split(b, []byte("\n")) {
		k, v, ok := strings.Cut(strings.TrimSpace(string(line)), "=")
		if ok {
			out[k] = v
		}
	}
	return out
}

// moduleRoot is the directory of the plugin's go.mod.
func moduleRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil &&
			bytes.Contains(b, []byte("module github.com/vault-plugin-c1/vault-plugin-c1\n")) {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("the plugin's go.mod is not above the test directory")
		}
		dir = parent
	}
}

// errNotFound is a CLI read that answered "No value found".
var errNotFound = errors.New("no value found")
