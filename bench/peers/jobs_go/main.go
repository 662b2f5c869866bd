// bench/peers/jobs_go — the Go peer of bench/jobs.sh: async jobs written the usual Go way.
//
// A worker pool of -workers goroutines reads a buffered job queue (a channel of -queue slots);
// the job records live in a map guarded by a sync.RWMutex. The HTTP surface mirrors edged's job
// handler and status API, so the two answer the same requests with the same bytes (near enough):
//
//	POST /work/...   (any method and body, like edged's route) a new id (16 bytes from
//	                 crypto/rand, hex), the record stored pending, the request enqueued; 202 with
//	                 {"id","status_url"}, Location and Retry-After. 503 when the queue is full.
//	GET /tasks/{id}  200 with the record's JSON (the fields edged writes, in the same order);
//	                 404 for an unknown id or one that is not 32 lower-case hex digits.
//	GET /stats       counters (pending, running, finished, rejected, records).
//
// A worker takes a job, stores it running, forwards the request to -origin (net/http client,
// keep-alive, a large idle pool), and stores it succeeded with the origin's status, headers and
// body (cut at 1 MiB; base64 when not UTF-8), or failed with the error. A finished record is
// dropped -ttl after it finished (edged's ttl). Standard library only.
//
//	jobs_go -listen 127.0.0.1:8080 -origin http://127.0.0.1:9000 -workers 64 -queue 100000
package main

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"flag"
	"io"
	"log"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"
)

const (
	prefix           = "/tasks/"
	route            = "work"
	maxRequestBytes  = 1 << 20 // edged's server.limits.body_bytes
	resultBytes      = 1 << 20 // edged's job result_bytes
	maxResponseBytes = 8 << 20 // edged's job max_response_bytes
)

// ts is a time that marshals as RFC 3339 UTC with milliseconds, null when zero (edged's form).
type ts time.Time

func (t ts) MarshalJSON() ([]byte, error) {
	tt := time.Time(t)
	if tt.IsZero() {
		return []byte("null"), nil
	}
	return []byte(`"` + tt.UTC().Format("2006-01-02T15:04:05.000Z") + `"`), nil
}

type result struct {
	Body         string      `json:"body"`
	BodyEncoding string      `json:"body_encoding"`
	Headers      [][2]string `json:"headers"`
	Status       int         `json:"status"`
	Truncated    bool        `json:"truncated"`
}

// record is what GET /tasks/{id} shows; the map holds values, replaced whole on each update.
type record struct {
	CreatedAt  ts      `json:"created_at"`
	Error      string  `json:"error,omitempty"`
	FinishedAt ts      `json:"finished_at"`
	ID         string  `json:"id"`
	Result     *result `json:"result,omitempty"`
	Route      string  `json:"route"`
	StartedAt  ts      `json:"started_at"`
	State      string  `json:"state"`
}

// job is the queued work: the request to forward.
type job struct {
	id          string
	method      string
	uri         string
	contentType string
	body        []byte
}

type expiry struct {
	at time.Time
	id string
}

type server struct {
	origin string
	client *http.Client
	ttl    time.Duration
	queue  chan *job

	mu      sync.RWMutex
	records map[string]record
	expiry  []expiry // finished ids in finishing order (one ttl for all, so sorted by time)

	pending, running, succeeded, failed, rejected atomic.Int64
}

func newID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b[:])
}

func validID(id string) bool {
	if len(id) != 32 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')) {
			return false
		}
	}
	return true
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	b = append(b, '\n')
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(b)
}

func (s *server) submit(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxRequestBytes))
	if err != nil {
		writeJSON(w, http.StatusRequestEntityTooLarge, map[string]string{"error": "request body too large"})
		return
	}
	j := &job{id: newID(), method: r.Method, uri: r.URL.RequestURI(), contentType: r.Header.Get("Content-Type"), body: body}
	s.mu.Lock()
	s.records[j.id] = record{ID: j.id, Route: route, State: "pending", CreatedAt: ts(time.Now())}
	s.mu.Unlock()
	select {
	case s.queue <- j:
		s.pending.Add(1)
	default:
		s.mu.Lock()
		delete(s.records, j.id)
		s.mu.Unlock()
		s.rejected.Add(1)
		w.Header().Set("Retry-After", "1")
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "job queue full"})
		return
	}
	url := prefix + j.id
	w.Header().Set("Location", url)
	w.Header().Set("Retry-After", "1")
	writeJSON(w, http.StatusAccepted, struct {
		ID        string `json:"id"`
		StatusURL string `json:"status_url"`
	}{j.id, url})
}

func (s *server) status(w http.ResponseWriter, r *http.Request) {
	id := strings.TrimPrefix(r.URL.Path, prefix)
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "method not allowed"})
		return
	}
	if validID(id) {
		s.mu.RLock()
		rec, ok := s.records[id]
		s.mu.RUnlock()
		if ok {
			writeJSON(w, http.StatusOK, rec)
			return
		}
	}
	writeJSON(w, http.StatusNotFound, map[string]string{"error": "no such job"})
}

func (s *server) stats(w http.ResponseWriter, r *http.Request) {
	s.mu.RLock()
	n := len(s.records)
	s.mu.RUnlock()
	writeJSON(w, http.StatusOK, map[string]int64{
		"pending": s.pending.Load(), "running": s.running.Load(), "succeeded": s.succeeded.Load(),
		"failed": s.failed.Load(), "rejected": s.rejected.Load(), "records": int64(n),
		"queued": int64(len(s.queue)),
	})
}

// update replaces a record; a finished one gets its expiry.
func (s *server) update(rec record) {
	now := time.Now()
	s.mu.Lock()
	s.records[rec.ID] = rec
	if rec.State != "pending" && rec.State != "running" {
		s.expiry = append(s.expiry, expiry{now.Add(s.ttl), rec.ID})
	}
	s.mu.Unlock()
}

var skipHeaders = map[string]bool{
	"Connection": true, "Keep-Alive": true, "Transfer-Encoding": true, "Content-Length": true,
	"Date": true, "Server": true, "Te": true, "Trailer": true, "Upgrade": true,
	"Proxy-Connection": true,
}

func (s *server) run(j *job) {
	s.mu.RLock()
	rec := s.records[j.id]
	s.mu.RUnlock()
	s.pending.Add(-1)
	s.running.Add(1)
	rec.State = "running"
	rec.StartedAt = ts(time.Now())
	s.update(rec)

	fail := func(why string) {
		rec.State = "failed"
		rec.Error = why
		rec.FinishedAt = ts(time.Now())
		s.running.Add(-1)
		s.failed.Add(1)
		s.update(rec)
	}
	req, err := http.NewRequest(j.method, s.origin+j.uri, bytes.NewReader(j.body))
	if err != nil {
		fail(err.Error())
		return
	}
	if j.contentType != "" {
		req.Header.Set("Content-Type", j.contentType)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		fail("upstream: " + err.Error())
		return
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes+1))
	resp.Body.Close()
	if err != nil {
		fail("upstream: " + err.Error())
		return
	}
	if len(body) > maxResponseBytes {
		fail("upstream response larger than max_response_bytes")
		return
	}
	res := &result{Status: resp.StatusCode, Headers: [][2]string{}, BodyEncoding: "utf-8"}
	for name, values := range resp.Header {
		if skipHeaders[name] {
			continue
		}
		for _, v := range values {
			res.Headers = append(res.Headers, [2]string{name, v})
		}
	}
	if len(body) > resultBytes {
		body, res.Truncated = body[:resultBytes], true
	}
	if utf8.Valid(body) {
		res.Body = string(body)
	} else {
		res.Body, res.BodyEncoding = base64.StdEncoding.EncodeToString(body), "base64"
	}
	rec.State = "succeeded"
	rec.Result = res
	rec.FinishedAt = ts(time.Now())
	s.running.Add(-1)
	s.succeeded.Add(1)
	s.update(rec)
}

func (s *server) worker() {
	for j := range s.queue {
		s.run(j)
	}
}

// sweep drops finished records past their ttl, once a second.
func (s *server) sweep() {
	for range time.Tick(time.Second) {
		now := time.Now()
		s.mu.Lock()
		n := 0
		for n < len(s.expiry) && !s.expiry[n].at.After(now) {
			delete(s.records, s.expiry[n].id)
			n++
		}
		if n > 0 {
			s.expiry = append(s.expiry[:0:0], s.expiry[n:]...)
		}
		s.mu.Unlock()
	}
}

func main() {
	listen := flag.String("listen", "127.0.0.1:8080", "address to listen on")
	origin := flag.String("origin", "http://127.0.0.1:9000", "origin URL the jobs are forwarded to")
	workers := flag.Int("workers", 64, "worker goroutines (jobs running at once)")
	queue := flag.Int("queue", 100000, "job queue slots (pending jobs)")
	ttl := flag.Duration("ttl", 10*time.Minute, "how long a finished job is kept")
	timeout := flag.Duration("timeout", 60*time.Second, "a job's whole upstream exchange")
	flag.Parse()

	transport := &http.Transport{
		Proxy:               nil, // never an environment proxy: the origin is local
		MaxIdleConns:        4096,
		MaxIdleConnsPerHost: 4096,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
	s := &server{
		origin:  strings.TrimSuffix(*origin, "/"),
		client:  &http.Client{Transport: transport, Timeout: *timeout},
		ttl:     *ttl,
		queue:   make(chan *job, *queue),
		records: make(map[string]record),
	}
	for i := 0; i < *workers; i++ {
		go s.worker()
	}
	go s.sweep()

	mux := http.NewServeMux()
	mux.HandleFunc("/work/", s.submit)
	mux.HandleFunc(prefix, s.status)
	mux.HandleFunc("/stats", s.stats)
	srv := &http.Server{Addr: *listen, Handler: mux, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: time.Minute}
	log.Fatal(srv.ListenAndServe())
}
