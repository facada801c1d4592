package influx

import (
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mailmon/mailmon/outputs"
	"github.com/mailmon/mailmon/sdk"
)

// newOutput decodes raw the way the agent does and calls Init.
func newOutput(t testing.TB, raw string) (*Influx, error) {
	t.Helper()
	o := &Influx{}
	if err := sdk.DecodeConfig([]byte(raw), o); err != nil {
		return nil, err
	}
	return o, o.Init()
}

func mustOutput(t testing.TB, raw string) *Influx {
	t.Helper()
	o, err := newOutput(t, raw)
	if err != nil {
		t.Fatalf("init %s: %v", raw, err)
	}
	return o
}

func TestInitErrors(t *testing.T) {
	badCA := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(badCA, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, raw, want string
	}{
		{"unknown mode", `{"mode":"file"}`, `option mode: must be one of stdout, udp, tcp, unix, http, got "file"`},
		{"unknown option", `{"flush_interval":"1s"}`, `option flush_interval: unknown option`},
		{"bad timeout", `{"mode":"tcp","address":"127.0.0.1:1","timeout":"5"}`, `option timeout: invalid duration "5" (want a number with a unit, e.g. "30s")`},
		{"udp without address", `{"mode":"udp"}`, `option address: required for mode "udp"`},
		{"tcp without address", `{"mode":"tcp"}`, `option address: required for mode "tcp"`},
		{"unix without address", `{"mode":"unix"}`, `option address: required for mode "unix"`},
		{"udp url address", `{"mode":"udp","address":"udp://127.0.0.1:8094"}`, `option address: want host:port without a scheme (mode sets the protocol), got "udp://127.0.0.1:8094"`},
		{"tcp missing port", `{"mode":"tcp","address":"127.0.0.1"}`, `option address: want host:port, got "127.0.0.1"`},
		{"tcp empty port", `{"mode":"tcp","address":"127.0.0.1:"}`, `option address: want host:port, got "127.0.0.1:"`},
		{"unix url address", `{"mode":"unix","address":"unix:///run/t.sock"}`, `option address: want a socket path without a scheme, got "unix:///run/t.sock"`},
		{"udp payload small", `{"mode":"udp","address":"127.0.0.1:8094","udp_payload":100}`, `option udp_payload: must be between 256 and 65507, got 100`},
		{"udp payload large", `{"mode":"udp","address":"127.0.0.1:8094","udp_payload":65508}`, `option udp_payload: must be between 256 and 65507, got 65508`},
		{"udp payload with tcp", `{"mode":"tcp","address":"127.0.0.1:8094","udp_payload":1400}`, `option udp_payload: only used with mode "udp"`},
		{"address with stdout", `{"address":"127.0.0.1:8094"}`, `option address: only used with modes "udp", "tcp" or "unix"`},
		{"timeout with stdout", `{"timeout":"1s"}`, `option timeout: only used with modes "udp", "tcp", "unix" or "http"`},
		{"url with udp", `{"mode":"udp","address":"127.0.0.1:8094","url":"http://x"}`, `option url: only used with mode "http"`},
		{"token with stdout", `{"token":"x"}`, `option token: only used with mode "http"`},
		{"headers with tcp", `{"mode":"tcp","address":"h:1","headers":{"a":"b"}}`, `option headers: only used with mode "http"`},
		{"http without url", `{"mode":"http"}`, `option url: required for mode "http"`},
		{"http bad scheme", `{"mode":"http","url":"udp://127.0.0.1:8086"}`, `option url: want http://host:port or https://host:port, got "udp://127.0.0.1:8086"`},
		{"http no host", `{"mode":"http","url":"http:///write"}`, `option url: want http://host:port or https://host:port, got "http:///write"`},
		{"http unparsable url", `{"mode":"http","url":"http://[::1"}`, `option url: parse "http://[::1": missing ']' in host`},
		{"http credentials in url", `{"mode":"http","url":"http://u:p@127.0.0.1:8086"}`, `option url: put credentials in username and password or token, not in the url`},
		{"http query in url", `{"mode":"http","url":"http://127.0.0.1:8086?db=x"}`, `option url: must not have a query or fragment (the output builds the query)`},
		{"http write path", `{"mode":"http","url":"http://127.0.0.1:8086/write"}`, `option url: want the server's base URL; the output appends /write or /api/v2/write`},
		{"http v2 write path", `{"mode":"http","api":"v2","org":"o","bucket":"b","token":"t","url":"http://127.0.0.1:8086/api/v2/write"}`, `option url: want the server's base URL; the output appends /write or /api/v2/write`},
		{"bad api", `{"mode":"http","url":"http://127.0.0.1:8086","api":"2"}`, `option api: must be "v1" or "v2", got "2"`},
		{"v2 without token", `{"mode":"http","url":"http://127.0.0.1:8086","api":"v2","org":"o","bucket":"b"}`, `option token: required for api "v2"`},
		{"v2 without org", `{"mode":"http","url":"http://127.0.0.1:8086","api":"v2","bucket":"b","token":"t"}`, `option org: required for api "v2"`},
		{"v2 without bucket", `{"mode":"http","url":"http://127.0.0.1:8086","api":"v2","org":"o","token":"t"}`, `option bucket: required for api "v2"`},
		{"token with v1", `{"mode":"http","url":"http://127.0.0.1:8086","token":"t"}`, `option token: only used with api "v2"`},
		{"database with v2", `{"mode":"http","url":"http://127.0.0.1:8086","api":"v2","database":"d"}`, `option database: only used with api "v1"`},
		{"password with v2", `{"mode":"http","url":"http://127.0.0.1:8086","api":"v2","password":"p"}`, `option password: only used with api "v1"`},
		{"password without username", `{"mode":"http","url":"http://127.0.0.1:8086","password":"p"}`, `option username: required when password is set`},
		{"bad encoding", `{"mode":"http","url":"http://127.0.0.1:8086","content_encoding":"br"}`, `option content_encoding: must be "gzip" or "identity", got "br"`},
		{"bad header name", `{"mode":"http","url":"http://127.0.0.1:8086","headers":{"X Tenant":"a"}}`, `option headers: invalid header name "X Tenant"`},
		{"header value newline", `{"mode":"http","url":"http://127.0.0.1:8086","headers":{"X-Tenant":"a\nb"}}`, `option headers: header "X-Tenant": value contains a line break or NUL`},
		{"content-encoding header", `{"mode":"http","url":"http://127.0.0.1:8086","headers":{"content-encoding":"br"}}`, `option headers: "content-encoding" is set by content_encoding`},
		{"content-length header", `{"mode":"http","url":"http://127.0.0.1:8086","headers":{"Content-Length":"1"}}`, `option headers: "Content-Length" is set by the output`},
		{"ca with http url", `{"mode":"http","url":"http://127.0.0.1:8086","tls_ca_file":"/x"}`, `option tls_ca_file: only used with an https url`},
		{"skip verify with http url", `{"mode":"http","url":"http://127.0.0.1:8086","tls_insecure_skip_verify":true}`, `option tls_insecure_skip_verify: only used with an https url`},
		{"missing ca file", `{"mode":"http","url":"https://127.0.0.1:8086","tls_ca_file":"/nonexistent/ca.pem"}`, `option tls_ca_file: open /nonexistent/ca.pem: no such file or directory`},
		{"ca file without pem", `{"mode":"http","url":"https://127.0.0.1:8086","tls_ca_file":"` + badCA + `"}`, `option tls_ca_file: no PEM certificate in ` + badCA},
		{"uint_support type", `{"uint_support":"yes"}`, `option uint_support: expected true or false, got string`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := newOutput(t, tt.raw)
			if err == nil {
				t.Fatalf("no error, want %q", tt.want)
			}
			if err.Error() != tt.want {
				t.Errorf("error\n got: %s\nwant: %s", err, tt.want)
			}
		})
	}
}

func TestInitDefaults(t *testing.T) {
	o := mustOutput(t, `{}`)
	if o.Mode != "stdout" || o.Timeout.D() != 5*time.Second || !*o.UintSupport {
		t.Errorf("stdout defaults: mode %q timeout %v uint_support %v", o.Mode, o.Timeout.D(), *o.UintSupport)
	}
	if _, ok := o.dst.(*writerSender); !ok {
		t.Errorf("stdout sender is %T", o.dst)
	}

	o = mustOutput(t, `{"mode":"udp","address":"127.0.0.1:8094"}`)
	if o.UDPPayload != 1232 {
		t.Errorf("udp_payload default %d, want 1232", o.UDPPayload)
	}

	o = mustOutput(t, `{"mode":"http","url":"http://127.0.0.1:8086"}`)
	if o.API != "v1" || o.Database != "mailmon" || o.ContentEncoding != "gzip" || o.Timeout.D() != 5*time.Second {
		t.Errorf("http defaults: api %q database %q content_encoding %q timeout %v", o.API, o.Database, o.ContentEncoding, o.Timeout.D())
	}

	o = mustOutput(t, `{"mode":"tcp","address":"127.0.0.1:8094","timeout":"250ms","uint_support":false}`)
	if o.Timeout.D() != 250*time.Millisecond || *o.UintSupport {
		t.Errorf("explicit values lost: timeout %v uint_support %v", o.Timeout.D(), *o.UintSupport)
	}
}

func TestWriteURL(t *testing.T) {
	tests := []struct{ raw, want string }{
		{`{"mode":"http","url":"http://127.0.0.1:8086"}`, "http://127.0.0.1:8086/write?db=mailmon&precision=ns"},
		{`{"mode":"http","url":"https://db.example/influx/","database":"mail mon","retention_policy":"30d"}`,
			"https://db.example/influx/write?db=mail+mon&precision=ns&rp=30d"},
		{`{"mode":"http","url":"http://127.0.0.1:8086","api":"v2","org":"acme","bucket":"mail/metrics","token":"t"}`,
			"http://127.0.0.1:8086/api/v2/write?bucket=mail%2Fmetrics&org=acme&precision=ns"},
	}
	for _, tt := range tests {
		o := mustOutput(t, tt.raw)
		if got := o.dst.(*httpSender).url; got != tt.want {
			t.Errorf("%s:\n got %s\nwant %s", tt.raw, got, tt.want)
		}
	}
}

func TestRegistered(t *testing.T) {
	f, ok := outputs.Get("influx")
	if !ok {
		t.Fatal(`outputs.Get("influx"): not registered`)
	}
	o, ok := f().(*Influx)
	if !ok {
		t.Fatalf("factory returned %T", f())
	}
	if o.Description() == "" || !strings.HasSuffix(o.Description(), ".") {
		t.Errorf("description %q is not a sentence", o.Description())
	}
}

// TestSampleConfig keeps sample.toml and the options in step: every
// option appears as a `# key = default` line, and nothing else does.
func TestSampleConfig(t *testing.T) {
	sample := (&Influx{}).SampleConfig()
	keyLine := regexp.MustCompile(`(?m)^# ([a-z_]+) = `)
	var inSample []string
	for _, m := range keyLine.FindAllStringSubmatch(sample, -1) {
		if !slices.Contains(inSample, m[1]) {
			inSample = append(inSample, m[1])
		}
	}
	var options []string
	typ := reflect.TypeFor[Influx]()
	for i := range typ.NumField() {
		if tag := typ.Field(i).Tag.Get("json"); tag != "" {
			options = append(options, tag)
		}
	}
	slices.Sort(inSample)
	slices.Sort(options)
	if !slices.Equal(inSample, options) {
		t.Errorf("sample.toml keys %v\n       options %v", inSample, options)
	}
	for _, line := range strings.Split(strings.TrimSpace(sample), "\n") {
		if line != "" && !strings.HasPrefix(line, "## ") && !strings.HasPrefix(line, "# ") {
			t.Errorf("sample line %q is neither a ## sentence nor a # key = default line", line)
		}
	}
	// The defaults the sample shows are the ones Init sets.
	o := mustOutput(t, `{"mode":"http","url":"http://127.0.0.1:8086"}`)
	for _, want := range []string{
		`# mode = "stdout"`, `# udp_payload = 1232`, `# timeout = "5s"`, `# api = "v1"`,
		`# database = "` + o.Database + `"`, `# content_encoding = "` + o.ContentEncoding + `"`, `# uint_support = true`,
	} {
		if !strings.Contains(sample, want+"\n") {
			t.Errorf("sample.toml lacks %q", want)
		}
	}
}
