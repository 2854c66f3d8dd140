package c1

import (
	"container/heap"
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vault-plugin-c1/vault-plugin-c1/internal/lifecycle"
)

// dueSchedule is the in-memory index of when each managed connector next
// needs the sweep (sweepDue), so that a periodic tick costs what is due, not
// one storage read per connector.
//
// It is built from storage at the first tick of this backend (and again
// after a config change or a tick where storage was not writable: a standby
// that becomes active rebuilds). After that, every record write through a
// recordStore notes the record, an invalidation notes its key, and a tick
// recomputes the noted connectors before it takes the due ones.
type dueSchedule struct {
	// tick serializes the ticks' use of the schedule (rebuild, take the due).
	tick sync.Mutex

	mu    sync.Mutex
	built bool
	gen   uint64 // changes on reset, so a rebuild that overlapped one is redone
	queue dueQueue
	items map[lifecycle.Key]*dueItem
	// touched are the connectors written or invalidated since the last
	// tick, with their next work when the write knew it.
	touched map[lifecycle.Key]dueNote
}

// dueNote is what a write told of a connector's next work.
type dueNote struct {
	at    time.Time
	known bool // false: read the record again to know
}

// reset makes the next tick rebuild the schedule from storage.
func (s *dueSchedule) reset() {
	s.mu.Lock()
	s.built, s.queue, s.items, s.touched = false, nil, nil, nil
	s.gen++
	s.mu.Unlock()
}

// touch notes that k's record changed in a way not known here: the next
// tick reads it again.
func (s *dueSchedule) touch(k lifecycle.Key) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.noteLocked(k, dueNote{})
}

// noteRecord notes that k's record was written as e, computing its next work
// with the config held in memory (or leaving it to the next tick when none is).
// The note holds a time, not the record, so a burst of writes keeps no records alive.
func (m *memory) noteRecord(k lifecycle.Key, e *lifecycle.Record) {
	s := &m.schedule
	s.mu.Lock()
	gen := s.gen
	s.mu.Unlock()
	note := dueNote{}
	if cfg := m.config.peek(); cfg != nil {
		note = dueNote{at: nextDue(cfg, k, e, m.clock()), known: true}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.gen != gen {
		note = dueNote{} // the config changed meanwhile: compute it again
	}
	s.noteLocked(k, note)
}

// noteLocked records a note. The caller holds mu.
func (s *dueSchedule) noteLocked(k lifecycle.Key, n dueNote) {
	if !s.built {
		return // the rebuild reads it
	}
	if s.touched == nil {
		s.touched = map[lifecycle.Key]dueNote{}
	}
	s.touched[k] = n
}

// dueConnectors returns the connectors whose next work is due at now, in the
// order it fell due. It rebuilds the schedule first when needed. The returned
// connectors are recomputed at the next tick, whatever the sweep did with them.
func (b *backend) dueConnectors(ctx context.Context, s logical.Storage, cfg *pluginConfig) ([]lifecycle.Key, error) {
	sched := &b.mem.schedule
	sched.tick.Lock()
	defer sched.tick.Unlock()
	now := b.now()
	sched.mu.Lock()
	built, gen := sched.built, sched.gen
	sched.mu.Unlock()
	if !built {
		if err := b.rebuildSchedule(ctx, s, cfg, gen, now); err != nil {
			return nil, err
		}
	}

	sched.mu.Lock()
	touched := sched.touched
	sched.touched = nil
	sched.mu.Unlock()
	next := make(map[lifecycle.Key]time.Time, len(touched))
	for k, note := range touched {
		if note.known {
			next[k] = note.at
			continue
		}
		e, err := getConnector(ctx, s, k)
		if err != nil {
			b.Logger().Warn("reading a connector to index its due time; retrying on the next tick",
				"connector", k.String(), "error", err)
			sched.touch(k)
			continue
		}
		next[k] = time.Time{}
		if e != nil {
			next[k] = nextDue(cfg, k, e, now)
		}
	}

	sched.mu.Lock()
	defer sched.mu.Unlock()
	if sched.gen != gen {
		return nil, nil // reset meanwhile: the next tick rebuilds
	}
	for k, at := range next {
		sched.set(k, at)
	}
	var due []lifecycle.Key
	for len(sched.queue) > 0 && !now.Before(sched.queue[0].at) {
		it := heap.Pop(&sched.queue).(*dueItem)
		delete(sched.items, it.key)
		due = append(due, it.key)
		if _, ok := sched.touched[it.key]; !ok {
			sched.noteLocked(it.key, dueNote{})
		}
	}
	return due, nil
}

// rebuildSchedule reads every connector record from storage (bypassing the
// record cache, which it would only fill) and indexes its next work.
func (b *backend) rebuildSchedule(ctx context.Context, s logical.Storage, cfg *pluginConfig, gen uint64, now time.Time) error {
	sched := &b.mem.schedule
	sched.mu.Lock()
	if sched.gen != gen {
		sched.mu.Unlock()
		return nil // reset meanwhile: the next tick rebuilds
	}
	sched.built, sched.touched = true, nil // writes from here on are noted
	sched.mu.Unlock()
	items := map[lifecycle.Key]*dueItem{}
	var queue dueQueue
	err := eachConnector(ctx, s, func(k lifecycle.Key, e *lifecycle.Record) {
		if at := nextDue(cfg, k, e, now); !at.IsZero() {
			it := &dueItem{key: k, at: at, index: len(queue)}
			queue = append(queue, it)
			items[k] = it
		}
	})
	if err != nil {
		sched.reset()
		return fmt.Errorf("indexing connector due times: %w", err)
	}
	heap.Init(&queue)
	sched.mu.Lock()
	defer sched.mu.Unlock()
	if sched.gen == gen {
		sched.queue, sched.items = queue, items
	}
	return nil
}

// set indexes k's next work at at (zero: none). The caller holds mu.
func (s *dueSchedule) set(k lifecycle.Key, at time.Time) {
	it, ok := s.items[k]
	switch {
	case at.IsZero() && ok:
		heap.Remove(&s.queue, it.index)
		delete(s.items, k)
	case at.IsZero():
	case ok:
		it.at = at
		heap.Fix(&s.queue, it.index)
	default:
		if s.items == nil {
			s.items = map[lifecycle.Key]*dueItem{}
		}
		it = &dueItem{key: k, at: at}
		heap.Push(&s.queue, it)
		s.items[k] = it
	}
}

// dueItem is one connector's next work in the queue.
type dueItem struct {
	key   lifecycle.Key
	at    time.Time
	index int
}

// dueQueue is a min-heap of next work times (container/heap).
type dueQueue []*dueItem

func (q dueQueue) Len() int           { return len(q) }
func (q dueQueue) Less(i, j int) bool { return q[i].at.Before(q[j].at) }
func (q dueQueue) Swap(i, j int) {
	q[i], q[j] = q[j], q[i]
	q[i].index, q[j].index = i, j
}
func (q *dueQueue) Push(x any) {
	it := x.(*dueItem)
	it.index = len(*q)
	*q = append(*q, it)
}
func (q *dueQueue) Pop() any {
	old := *q
	it := old[len(old)-1]
	old[len(old)-1] = nil
	*q = old[:len(old)-1]
	return it
}
