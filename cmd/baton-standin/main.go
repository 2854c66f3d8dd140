// Command baton-standin behaves, towards C1, like a baton connector in
// service mode: it reads its credential from BATON_CLIENT_ID and
// BATON_CLIENT_SECRET once at start-up, never again, and authenticates with
// it at the token endpoint every second with the EdDSA client-assertion flow.
//
// Every login is recorded as one JSON line in the events file (-events),
// which several runs may share: start, login, refused (the token endpoint
// answered 4xx), error (no answer, or a 5xx), stop. Lines carry the time, the
// process id and the client id, never the secret. It stops cleanly, with exit
// status 0, on SIGTERM or SIGINT.
//
// It exists so that the end-to-end suite and the demo can show a supervisor
// (Vault Agent) moving a connector onto a rotated credential with no refused
// login.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/vault-plugin-c1/vault-plugin-c1/internal/c1api"
	"github.com/vault-plugin-c1/vault-plugin-c1/internal/httpx"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Getenv, os.Stderr, hooks{})
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "baton-standin:", err)
		os.Exit(1)
	}
}

// Event kinds written to the events file.
const (
	eventStart   = "start"
	eventLogin   = "login"
	eventRefused = "refused"
	eventError   = "error"
	eventStop    = "stop"
)

// event is one line of the events file.
type event struct {
	Time     time.Time `json:"time"`
	PID      int       `json:"pid"`
	Event    string    `json:"event"`
	ClientID string    `json:"client_id"`
	Status   int       `json:"status,omitempty"`
	Error    string    `json:"error,omitempty"`
}

// hooks let tests drive the loop without waiting on time.
type hooks struct {
	// tick replaces the ticker of -interval.
	tick <-chan time.Time
	// recorded, if set, sees each event once it is written.
	recorded func(event)
}

// run logs in at every tick until ctx ends.
func run(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer, h hooks) error {
	fs := flag.NewFlagSet("baton-standin", flag.ContinueOnError)
	fs.SetOutput(stderr)
	serverURL := fs.String("server-url", "", "C1 server `URL`; default https:// plus the client id's host")
	eventsPath := fs.String("events", "", "append one JSON line per start, login, refused login, error and stop to this `file` (required)")
	interval := fs.Duration("interval", time.Second, "time between logins")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	if *eventsPath == "" {
		return errors.New("-events is required")
	}
	if *interval <= 0 {
		return errors.New("-interval must be positive")
	}
	// Read once, as a baton connector does.
	clientID, clientSecret := getenv("BATON_CLIENT_ID"), getenv("BATON_CLIENT_SECRET")
	if clientID == "" || clientSecret == "" {
		return errors.New("BATON_CLIENT_ID and BATON_CLIENT_SECRET must be set")
	}
	server := *serverURL
	if server == "" {
		u, err := c1api.ServerURLFromClientID(clientID)
		if err != nil {
			return err
		}
		server = u
	}
	client, err := c1api.New(c1api.Config{
		ServerURL:    server,
		ClientID:     clientID,
		ClientSecret: clientSecret,
		// One attempt per login: a refused or failed login is recorded, never retried away.
		HTTP: httpx.Options{Timeout: 5 * time.Second, MaxRetries: 0, UserAgent: "baton-standin"},
	})
	if err != nil {
		return err
	}
	events, err := openEvents(*eventsPath, h.recorded)
	if err != nil {
		return err
	}
	defer events.close()
	tick := h.tick
	if tick == nil {
		t := time.NewTicker(*interval)
		defer t.Stop()
		tick = t.C
	}

	events.write(event{Event: eventStart, ClientID: clientID})
	defer events.write(event{Event: eventStop, ClientID: clientID})
	for {
		e, stopped := login(ctx, client, clientID)
		if stopped {
			return nil
		}
		events.write(e)
		select {
		case <-ctx.Done():
			return nil
		case <-tick:
		}
	}
}

// login logs in once and says how it went; stopped reports that ctx ended
// during the attempt, which is no verdict on the credential.
func login(ctx context.Context, client *c1api.Client, clientID string) (e event, stopped bool) {
	e = event{Event: eventLogin, ClientID: clientID}
	err := client.Login(ctx)
	switch {
	case err == nil:
		return e, false
	case ctx.Err() != nil:
		return e, true
	}
	e.Event, e.Status, e.Error = eventError, httpx.StatusOf(err), err.Error()
	if e.Status >= http.StatusBadRequest && e.Status < http.StatusInternalServerError {
		e.Event = eventRefused
	}
	return e, false
}

// eventLog appends events to a file shared by successive runs.
type eventLog struct {
	mu       sync.Mutex
	f        *os.File
	pid      int
	recorded func(event)
}

func openEvents(path string, recorded func(event)) (*eventLog, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening the events file: %w", err)
	}
	return &eventLog{f: f, pid: os.Getpid(), recorded: recorded}, nil
}

// write appends e as one line with a single write, so that lines of
// concurrent runs never interleave.
func (l *eventLog) write(e event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e.Time, e.PID = time.Now().UTC(), l.pid
	b, err := json.Marshal(e)
	if err != nil {
		return
	}
	_, _ = l.f.Write(append(b, '\n'))
	if l.recorded != nil {
		l.recorded(e)
	}
}

func (l *eventLog) close() { _ = l.f.Close() }
