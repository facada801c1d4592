package main

import (
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
)

// ednsSize is the UDP payload size offered (the DNS Flag Day 2020 value).
const ednsSize = 1232

// resolver sends the run's DNS queries: bounded concurrency, a timeout per
// attempt, retries over UDP, TCP on truncation, answers cached per TTL and
// concurrent queries for one name merged. One resolver lives for one run.
type resolver struct {
	servers  []string // host:port, tried in turn on retries
	timeout  time.Duration
	attempts int
	sem      chan struct{}
	udp, tcp *dns.Client

	mu    sync.Mutex
	cache map[cacheKey]*cacheEntry
	// health counts timeouts and answers per breaker (a zone): after
	// deadAfter timeouts with no answer at all, further queries for that
	// zone fail at once instead of each waiting for its timeout.
	health map[string]*serverHealth

	conns  map[string][]*dns.Conn // idle UDP sockets per server
	closed bool

	queries   atomic.Int64 // DNS messages sent
	cacheHits atomic.Int64
	tcpRetry  atomic.Int64
}

type serverHealth struct {
	timeouts, answers int
}

// deadAfter is how many timeouts, with no answer at all, make a zone
// count as dead for the rest of the run.
const deadAfter = 3

type cacheKey struct {
	group string
	name  string
	qtype uint16
}

type cacheEntry struct {
	done    chan struct{}
	res     response
	expires time.Time
}

// response is the outcome of one query.
type response struct {
	Msg *dns.Msg // nil when Err is set
	// Err is a transport failure: "timeout" or "network_error".
	Err, ErrDetail string
	RTT            time.Duration
	Cached         bool
}

func newResolver(servers []string, timeout time.Duration, retries, concurrency int) *resolver {
	return &resolver{
		servers:  servers,
		timeout:  timeout,
		attempts: 1 + retries,
		sem:      make(chan struct{}, concurrency),
		udp:      &dns.Client{Net: "udp", UDPSize: ednsSize},
		tcp:      &dns.Client{Net: "tcp"},
		cache:    map[cacheKey]*cacheEntry{},
		conns:    map[string][]*dns.Conn{},
		health:   map[string]*serverHealth{},
	}
}

// query asks for name (fully qualified) and type, from servers (nil: the
// resolver's own). Concurrent and repeated queries for the same question
// share one answer while its TTL lasts. breaker names what timeouts count
// against (a zone): after deadAfter timeouts and no answer, further queries
// for it fail at once.
func (r *resolver) query(ctx context.Context, servers []string, breaker, name string, qtype uint16) response {
	if len(servers) == 0 {
		servers = r.servers
	}
	group := strings.Join(servers, ",")
	key := cacheKey{group: group, name: strings.ToLower(name), qtype: qtype}
	r.mu.Lock()
	if e, ok := r.cache[key]; ok {
		select {
		case <-e.done:
			if time.Now().Before(e.expires) {
				r.mu.Unlock()
				r.cacheHits.Add(1)
				res := e.res
				res.Cached = true
				return res
			}
		default:
			// In flight: wait for it.
			r.mu.Unlock()
			r.cacheHits.Add(1)
			select {
			case <-e.done:
				res := e.res
				res.Cached = true
				return res
			case <-ctx.Done():
				return response{Err: "timeout", ErrDetail: "the run's deadline passed"}
			}
		}
	}
	e := &cacheEntry{done: make(chan struct{})}
	r.cache[key] = e
	r.mu.Unlock()

	res := r.exchange(ctx, servers, breaker, name, qtype)
	var ttl time.Duration
	if res.Msg != nil {
		ttl = time.Duration(msgTTL(res.Msg, name, qtype)) * time.Second
	}
	// Failures are shared with the queries already waiting, not kept.
	e.res, e.expires = res, time.Now().Add(ttl)
	close(e.done)
	return res
}

// msgTTL is how long a response may be cached: the answer's TTL, or the
// negative TTL.
func msgTTL(msg *dns.Msg, name string, qtype uint16) uint32 {
	if qtype == dns.TypeA {
		return parseAnswer(msg, name).TTL
	}
	ttl, first := uint32(0), true
	for _, rr := range msg.Answer {
		if first || rr.Header().Ttl < ttl {
			ttl, first = rr.Header().Ttl, false
		}
	}
	if first {
		return negativeTTL(msg)
	}
	return ttl
}

// exchange sends the query, with retries, and returns the first response
// (any rcode) or the last failure.
func (r *resolver) exchange(ctx context.Context, servers []string, breaker, name string, qtype uint16) response {
	if r.isDead(breaker) {
		return response{Err: "timeout", ErrDetail: "no answers for " + breaker + " (gave up after " + strconv.Itoa(deadAfter) + " timeouts)"}
	}
	select {
	case r.sem <- struct{}{}:
		defer func() { <-r.sem }()
	case <-ctx.Done():
		return response{Err: "timeout", ErrDetail: "the run's deadline passed before the query was sent"}
	}
	m := &dns.Msg{Question: []dns.Question{{Name: name, Qtype: qtype, Qclass: dns.ClassINET}}}
	// A random ID from the runtime's ChaCha8 generator: as unpredictable
	// as miekg/dns's crypto/rand one, without a system call per query.
	m.Id = uint16(rand.Uint32())
	m.RecursionDesired = true
	m.SetEdns0(ednsSize, false)
	var last response
	for i := range r.attempts {
		if ctx.Err() != nil || r.isDead(breaker) {
			break
		}
		server := servers[i%len(servers)]
		res := r.attempt(ctx, m, server)
		if res.Err == "" {
			r.note(breaker, false)
			return res
		}
		last = res
		if res.Err == "timeout" {
			r.note(breaker, true)
		}
	}
	if last.Err == "" {
		last = response{Err: "timeout", ErrDetail: "the run's deadline passed"}
	}
	return last
}

// attempt is one UDP exchange, and one over TCP if the answer is truncated.
func (r *resolver) attempt(ctx context.Context, m *dns.Msg, server string) response {
	actx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	r.queries.Add(1)
	in, rtt, err := r.exchangeUDP(actx, m, server)
	if err == nil && in.Truncated {
		r.queries.Add(1)
		r.tcpRetry.Add(1)
		var trtt time.Duration
		in, trtt, err = r.tcp.ExchangeContext(actx, m, server)
		rtt += trtt
	}
	if err != nil {
		return transportError(err, server)
	}
	return response{Msg: in, RTT: rtt}
}

// exchangeUDP sends m over a pooled UDP socket to server. Sockets are kept
// for the run (one per query in flight at most): opening, connecting and
// closing a socket per query cost more than the query on a busy machine.
// Every query still has a random ID, and replies with another ID (late
// answers to an earlier query) are skipped; a socket that saw an error is
// closed, not reused.
func (r *resolver) exchangeUDP(ctx context.Context, m *dns.Msg, server string) (*dns.Msg, time.Duration, error) {
	co := r.getConn(server)
	if co == nil {
		var err error
		if co, err = r.udp.DialContext(ctx, server); err != nil {
			return nil, 0, err
		}
	}
	in, rtt, err := r.udp.ExchangeWithConnContext(ctx, m, co)
	if err != nil {
		co.Close()
		return nil, rtt, err
	}
	r.putConn(server, co)
	return in, rtt, nil
}

func (r *resolver) getConn(server string) *dns.Conn {
	r.mu.Lock()
	defer r.mu.Unlock()
	free := r.conns[server]
	if len(free) == 0 {
		return nil
	}
	co := free[len(free)-1]
	r.conns[server] = free[:len(free)-1]
	return co
}

func (r *resolver) putConn(server string, co *dns.Conn) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed || len(r.conns[server]) >= cap(r.sem) {
		co.Close()
		return
	}
	r.conns[server] = append(r.conns[server], co)
}

// close closes the pooled sockets; the resolver is done.
func (r *resolver) close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed = true
	for _, free := range r.conns {
		for _, co := range free {
			co.Close()
		}
	}
	r.conns = nil
}

func transportError(err error, server string) response {
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout() {
		return response{Err: "timeout", ErrDetail: "no answer from " + server}
	}
	var de *dns.Error
	if errors.As(err, &de) {
		return response{Err: "bad_response", ErrDetail: server + ": " + err.Error()}
	}
	return response{Err: "network_error", ErrDetail: err.Error()}
}

func (r *resolver) note(group string, timeout bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	h := r.health[group]
	if h == nil {
		h = &serverHealth{}
		r.health[group] = h
	}
	if timeout {
		h.timeouts++
	} else {
		h.answers++
	}
}

func (r *resolver) isDead(group string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	h := r.health[group]
	return h != nil && h.answers == 0 && h.timeouts >= deadAfter
}

// systemResolvers reads the nameservers from a resolv.conf file.
func systemResolvers(path string) ([]string, error) {
	cc, err := dns.ClientConfigFromFile(path)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, s := range cc.Servers {
		// resolv.conf may carry a zone ("fe80::1%eth0"); keep it.
		out = append(out, net.JoinHostPort(s, cc.Port))
	}
	if len(out) == 0 {
		return nil, errors.New("no nameserver in " + path)
	}
	return out, nil
}

// readable reports whether a file can be opened, for config validation.
func readable(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	return f.Close()
}

// publicResolvers are well-known public resolvers. Several blocklists
// (Spamhaus' public mirrors, Barracuda, URIBL) refuse or answer errors to
// queries that come through them.
var publicResolvers = func() map[netip.Addr]string {
	m := map[netip.Addr]string{}
	add := func(name string, addrs ...string) {
		for _, a := range addrs {
			m[netip.MustParseAddr(a)] = name
		}
	}
	add("Google Public DNS", "8.8.8.8", "8.8.4.4", "2001:4860:4860::8888", "2001:4860:4860::8844")
	add("Cloudflare", "1.1.1.1", "1.0.0.1", "1.1.1.2", "1.0.0.2", "1.1.1.3", "1.0.0.3",
		"2606:4700:4700::1111", "2606:4700:4700::1001", "2606:4700:4700::1112", "2606:4700:4700::1002",
		"2606:4700:4700::1113", "2606:4700:4700::1003")
	add("Quad9", "9.9.9.9", "149.112.112.112", "9.9.9.10", "149.112.112.10", "9.9.9.11", "149.112.112.11",
		"2620:fe::fe", "2620:fe::9", "2620:fe::10", "2620:fe::fe:10", "2620:fe::11", "2620:fe::fe:11")
	add("OpenDNS", "208.67.222.222", "208.67.220.220", "208.67.222.123", "208.67.220.123",
		"2620:119:35::35", "2620:119:53::53")
	add("AdGuard DNS", "94.140.14.14", "94.140.15.15", "2a10:50c0::ad1:ff", "2a10:50c0::ad2:ff")
	add("CleanBrowsing", "185.228.168.9", "185.228.169.9", "185.228.168.168", "185.228.169.168")
	add("Level3", "4.2.2.1", "4.2.2.2", "4.2.2.3", "4.2.2.4", "4.2.2.5", "4.2.2.6")
	add("Yandex DNS", "77.88.8.8", "77.88.8.1")
	add("Comodo Secure DNS", "8.26.56.26", "8.20.247.20")
	add("Control D", "76.76.2.0", "76.76.10.0")
	add("DNS.SB", "185.222.222.222", "45.11.45.11")
	return m
}()

// publicResolver returns the operator's name if server (host:port) is a
// well-known public resolver.
func publicResolver(server string) (string, bool) {
	host, _, err := net.SplitHostPort(server)
	if err != nil {
		host = server
	}
	if i := strings.IndexByte(host, '%'); i >= 0 {
		host = host[:i]
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return "", false
	}
	name, ok := publicResolvers[a.Unmap()]
	return name, ok
}
