//go:build e2e

package e2e

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"
)

// raftCluster is Vault nodes on loopback sharing integrated storage (Raft):
// one initialised with Shamir key shares, the others joined to it, all
// unsealed. Vault OSS serves every request on the active node; a standby
// forwards the requests it receives to it.
type raftCluster struct {
	t     *testing.T
	nodes []*vaultServer
	dead  map[*vaultServer]bool
}

// startRaftCluster starts n nodes (n >= 1) under dir: the first is
// initialised (three key shares, two to unseal) and becomes active, the
// others join it with `vault operator raft join` and are unsealed as
// standbys. It returns once every node is a voter.
func startRaftCluster(t *testing.T, dir string, n int, o vaultOptions) *raftCluster {
	t.Helper()
	c := &raftCluster{t: t, dead: map[*vaultServer]bool{}}
	for i := range n {
		o := o
		o.raftNodeID = fmt.Sprintf("node%d", i)
		c.nodes = append(c.nodes, newVaultServer(t, filepath.Join(dir, o.raftNodeID), o))
	}
	first := c.nodes[0]
	first.initialize(3, 2)
	first.unseal(true)
	// Autopilot promotes a joined node to voter once it has been healthy
	// this long (10 s by default).
	first.cli("operator", "raft", "autopilot", "set-config", "-server-stabilization-time=2s")
	for _, v := range c.nodes[1:] {
		v.useKeys(first.unsealKeys, first.rootToken)
		if _, stderr, err := v.runAs("", nil, "operator", "raft", "join", first.addr); err != nil {
			t.Fatalf("%s: vault operator raft join: %v: %s", v.name, err, stderr)
		}
		v.unseal(false)
	}
	waitFor(t, "every Raft node a voter", 90*time.Second, time.Second, func() (bool, string) {
		voters, err := c.voters(first)
		if err != nil {
			return false, err.Error()
		}
		return voters == n, fmt.Sprintf("%d of %d nodes are voters", voters, n)
	})
	return c
}

// voters counts the voters in the Raft configuration as node v sees it.
func (c *raftCluster) voters(v *vaultServer) (int, error) {
	s, err := v.api.Logical().Read("sys/storage/raft/configuration")
	if err != nil {
		return 0, err
	}
	if s == nil || s.Data == nil {
		return 0, fmt.Errorf("sys/storage/raft/configuration: empty answer")
	}
	cfg, _ := s.Data["config"].(map[string]any)
	servers, _ := cfg["servers"].([]any)
	n := 0
	for _, srv := range servers {
		if m, _ := srv.(map[string]any); m != nil && m["voter"] == true {
			n++
		}
	}
	return n, nil
}

// live are the nodes not killed.
func (c *raftCluster) live() []*vaultServer {
	var out []*vaultServer
	for _, v := range c.nodes {
		if !c.dead[v] {
			out = append(out, v)
		}
	}
	return out
}

// leader waits until one live node reports itself active and returns it with
// the time it became active.
func (c *raftCluster) leader() (*vaultServer, time.Time) {
	c.t.Helper()
	var (
		active *vaultServer
		since  time.Time
	)
	waitFor(c.t, "an active node", 60*time.Second, 250*time.Millisecond, func() (bool, string) {
		for _, v := range c.live() {
			l, err := v.api.Sys().Leader()
			if err == nil && l.IsSelf {
				active, since = v, l.ActiveTime
				return true, ""
			}
		}
		return false, "no live node is active"
	})
	return active, since
}

// standbys are the live nodes other than active, once each of them answers
// as an unsealed standby.
func (c *raftCluster) standbys(active *vaultServer) []*vaultServer {
	c.t.Helper()
	var out []*vaultServer
	for _, v := range c.live() {
		if v == active {
			continue
		}
		v.waitHealth("a standby", "?standbycode=200&perfstandbyok=true", 60*time.Second)
		h, err := v.api.Sys().Health()
		if err != nil || !h.Standby {
			c.t.Fatalf("%s: not a standby (%v)", v.name, err)
		}
		out = append(out, v)
	}
	return out
}

// kill crashes node v (SIGKILL to it and its plugin processes).
func (c *raftCluster) kill(v *vaultServer) {
	v.kill()
	c.dead[v] = true
}

// installPlugin places the plugin binary on every node and registers and
// mounts it through node via (the catalog and the mount table are shared).
func (c *raftCluster) installPlugin(via *vaultServer) {
	for _, v := range c.nodes {
		v.placePlugin()
	}
	via.registerPlugin()
}

// mountUUID is the storage id of the c1/ mount: its storage lives under
// logical/<uuid>/.
func (v *vaultServer) mountUUID() string {
	v.t.Helper()
	mounts, err := v.api.Sys().ListMounts()
	if err != nil {
		v.t.Fatalf("sys/mounts: %v", err)
	}
	m, ok := mounts[mountPath+"/"]
	if !ok || m.UUID == "" {
		v.t.Fatalf("sys/mounts: no %s/ mount with a uuid", mountPath)
	}
	return m.UUID
}

// rawList lists the keys under prefix in Vault's storage (sys/raw, which the
// server must enable); nil when there are none.
func (v *vaultServer) rawList(prefix string) ([]string, error) {
	s, err := v.api.Logical().List("sys/raw/" + prefix)
	if err != nil {
		return nil, err
	}
	if s == nil {
		return nil, nil
	}
	return strs(s, "keys"), nil
}

// rawGet reads one storage entry through sys/raw; ok is false when absent.
func (v *vaultServer) rawGet(key string) (value string, ok bool, err error) {
	s, err := v.api.Logical().Read("sys/raw/" + key)
	if err != nil {
		var re *api.ResponseError
		if errors.As(err, &re) && re.StatusCode == http.StatusNotFound {
			return "", false, nil
		}
		return "", false, err
	}
	if s == nil {
		return "", false, nil
	}
	return str(s, "value"), true, nil
}

// rawPut writes one storage entry through sys/raw.
func (v *vaultServer) rawPut(key, value string) error {
	_, err := v.api.Logical().Write("sys/raw/"+key, map[string]any{"value": value})
	return err
}

// ageWAL makes the WAL entry at key (a full storage key under
// logical/<uuid>/wal/) look written an hour ago, so that the next periodic
// run rolls it back instead of waiting out the engine's minimum age.
func (v *vaultServer) ageWAL(key string) error {
	raw, ok, err := v.rawGet(key)
	if err != nil || !ok {
		return fmt.Errorf("reading WAL entry %s: present %t: %v", key, ok, err)
	}
	var entry map[string]any
	if err := json.Unmarshal([]byte(raw), &entry); err != nil {
		return fmt.Errorf("WAL entry %s is not JSON: %v", key, err)
	}
	entry["created_at"] = time.Now().Add(-time.Hour).Unix()
	aged, err := json.Marshal(entry)
	if err != nil {
		return err
	}
	return v.rawPut(key, string(aged))
}
