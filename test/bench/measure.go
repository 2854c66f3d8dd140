package main

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// percentile is the p-th percentile (0 < p <= 100) of sorted durations.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted))*p/100+0.5) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// latency is the distribution of one target's read times.
type latency struct {
	name     string
	p50, p99 time.Duration
}

// readLatencies reads every path in turn, rounds times (after warm-up
// reads), one request at a time, so the targets share the machine's state.
func readLatencies(v *devVault, paths []string, warm, rounds int) ([]latency, error) {
	samples := make([][]time.Duration, len(paths))
	for r := -warm; r < rounds; r++ {
		for i, p := range paths {
			start := time.Now()
			if err := v.get(p); err != nil {
				return nil, err
			}
			if r >= 0 {
				samples[i] = append(samples[i], time.Since(start))
			}
		}
	}
	out := make([]latency, len(paths))
	for i, s := range samples {
		slices.Sort(s)
		out[i] = latency{name: paths[i], p50: percentile(s, 50), p99: percentile(s, 99)}
	}
	return out, nil
}

// burst reads path n times at once and returns the number of failed reads.
func burst(v *devVault, path string, n int) int {
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		failed int
		start  = make(chan struct{})
	)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			if err := v.get(path); err != nil {
				mu.Lock()
				failed++
				mu.Unlock()
			}
		}()
	}
	close(start)
	wg.Wait()
	return failed
}

// parallel runs fn(i) for i in [0, n) on workers goroutines and returns the first error.
func parallel(n, workers int, fn func(i int) error) error {
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
		next  = make(chan int)
	)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if err := fn(i); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
				}
			}
		}()
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	return first
}

// processOf finds the process running the executable at path.
func processOf(path string) (int, error) {
	want, err := filepath.EvalSymlinks(path)
	if err != nil {
		return 0, err
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0, err
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if exe, err := os.Readlink(filepath.Join("/proc", e.Name(), "exe")); err == nil && exe == want {
			return pid, nil
		}
	}
	return 0, fmt.Errorf("no process runs %s", path)
}

// cpuTime is the CPU time a process has used: the sum over its threads of
// the scheduler's run time (/proc/<pid>/task/*/schedstat, nanoseconds).
func cpuTime(pid int) (time.Duration, error) {
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		return 0, err
	}
	var total time.Duration
	for _, t := range tasks {
		raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/schedstat", pid, t.Name()))
		if err != nil {
			continue // the thread ended
		}
		f := strings.Fields(string(raw))
		if len(f) == 0 {
			continue
		}
		ns, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, err
		}
		total += time.Duration(ns)
	}
	return total, nil
}

// userHZ is the unit of the CPU times in /proc/<pid>/stat (USER_HZ, 100 on Linux).
const userHZ = 100

// procCPU is the CPU time a process has used, user and system, from
// /proc/<pid>/stat (utime + stime). Unlike the sum over the threads'
// schedstat (cpuTime) it keeps the time of threads that have ended, at a
// resolution of 1/USER_HZ s: the measure for spans of a minute.
func procCPU(pid int) (time.Duration, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name, field 2, is in parentheses and may hold spaces.
	i := strings.LastIndexByte(string(raw), ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	f := strings.Fields(string(raw[i+1:])) // from field 3 (state) on
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f)+2)
	}
	var ticks int64
	for _, s := range f[11:13] { // fields 14 and 15: utime, stime
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, err
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / userHZ, nil
}

// rssBytes is a process's resident set size (/proc/<pid>/status VmRSS).
func rssBytes(pid int) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if rest, ok := strings.CutPrefix(s.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb * 1024, err
		}
	}
	return 0, fmt.Errorf("no VmRSS for process %d", pid)
}

// machine names the CPU model and the number of cores.
func machine() string {
	model := "unknown CPU"
	if raw, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(raw), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
	}
	return fmt.Sprintf("%s, %d cores (%s/%s)", model, runtime.NumCPU(), runtime.GOOS, runtime.GOARCH)
}
