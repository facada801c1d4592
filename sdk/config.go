package sdk

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
	"strings"
	"time"
)

// ConfigError is an invalid option. Key is the option's path inside the
// instance config ("address", "tls.ca_file"); the agent prefixes the config
// file and the instance's position when it reports it.
type ConfigError struct {
	Key string
	Err error
}

// Error names the option first.
func (e *ConfigError) Error() string {
	if e.Key == "" {
		return e.Err.Error()
	}
	return "option " + e.Key + ": " + e.Err.Error()
}

// Unwrap returns the underlying error.
func (e *ConfigError) Unwrap() error { return e.Err }

// OptionError returns a ConfigError for key with a formatted message.
func OptionError(key, format string, args ...any) error {
	return &ConfigError{Key: key, Err: fmt.Errorf(format, args...)}
}

// DecodeConfig decodes an instance's JSON options into v strictly: an
// unknown option, a wrong type or trailing data is a *ConfigError whose Key
// is the option's full path ("tls.ca_file", "servers[1].port"). Struct
// fields are matched by their `json` tags. Empty input decodes as {}.
func DecodeConfig(raw []byte, v any) error {
	if len(bytes.TrimSpace(raw)) == 0 {
		raw = []byte("{}")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return explain(raw, v, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return &ConfigError{Err: errors.New("trailing data after the options object")}
	}
	return nil
}

// explain turns a decode error into a ConfigError with the option's full
// path. encoding/json names only the last key of an unknown nested option
// and no key at all for errors from UnmarshalJSON methods, so the input is
// walked again against v's type to find the first bad option.
func explain(raw []byte, v any, err error) *ConfigError {
	if t := reflect.TypeOf(v); t != nil && t.Kind() == reflect.Pointer {
		if key, badErr := findBad(raw, t.Elem(), ""); badErr != nil {
			cerr := decodeError(badErr)
			cerr.Key = joinKey(key, cerr.Key)
			return cerr
		}
	}
	return decodeError(err)
}

var unmarshalerType = reflect.TypeFor[json.Unmarshaler]()

// findBad returns the path of the first value in raw, in document order,
// that is an unknown option or does not decode into t, with its error.
// It returns a nil error when it finds nothing.
func findBad(raw []byte, t reflect.Type, path string) (string, error) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	first := firstByte(raw)
	switch {
	case reflect.PointerTo(t).Implements(unmarshalerType):
	case t.Kind() == reflect.Struct && first == '{':
		return findBadMember(raw, path, func(key string) (reflect.Type, bool) { return fieldType(t, key) })
	case t.Kind() == reflect.Map && t.Key().Kind() == reflect.String && first == '{':
		return findBadMember(raw, path, func(string) (reflect.Type, bool) { return t.Elem(), true })
	case (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) && first == '[':
		return findBadElement(raw, t.Elem(), path)
	}
	return path, decodeStrict(raw, t)
}

func findBadMember(raw []byte, path string, field func(string) (reflect.Type, bool)) (string, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if _, err := dec.Token(); err != nil {
		return "", nil
	}
	for dec.More() {
		tok, err := dec.Token()
		key, ok := tok.(string)
		var val json.RawMessage
		if err != nil || !ok || dec.Decode(&val) != nil {
			return "", nil
		}
		t, known := field(key)
		if !known {
			return joinKey(path, key), errors.New("unknown option")
		}
		if p, err := findBad(val, t, joinKey(path, key)); err != nil {
			return p, err
		}
	}
	return "", nil
}

func findBadElement(raw []byte, elem reflect.Type, path string) (string, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if _, err := dec.Token(); err != nil {
		return "", nil
	}
	for i := 0; dec.More(); i++ {
		var val json.RawMessage
		if dec.Decode(&val) != nil {
			return "", nil
		}
		if p, err := findBad(val, elem, fmt.Sprintf("%s[%d]", path, i)); err != nil {
			return p, err
		}
	}
	return "", nil
}

func decodeStrict(raw []byte, t reflect.Type) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	return dec.Decode(reflect.New(t).Interface())
}

func firstByte(raw []byte) byte {
	if b := bytes.TrimSpace(raw); len(b) > 0 {
		return b[0]
	}
	return 0
}

// fieldType finds the type of the struct field encoding/json fills for
// key: an exact name match first, then a case-insensitive one.
func fieldType(t reflect.Type, key string) (reflect.Type, bool) {
	var folded reflect.Type
	for _, f := range jsonFields(t) {
		if f.name == key {
			return f.typ, true
		}
		if folded == nil && strings.EqualFold(f.name, key) {
			folded = f.typ
		}
	}
	return folded, folded != nil
}

type jsonField struct {
	name string
	typ  reflect.Type
}

// jsonFields lists t's JSON options, with those of embedded structs.
func jsonFields(t reflect.Type) []jsonField {
	var out []jsonField
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" {
			et := f.Type
			if et.Kind() == reflect.Pointer {
				et = et.Elem()
			}
			if et.Kind() == reflect.Struct {
				out = append(out, jsonFields(et)...)
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out = append(out, jsonField{name: name, typ: f.Type})
	}
	return out
}

func joinKey(path, key string) string {
	switch {
	case path == "":
		return key
	case key == "":
		return path
	case strings.HasPrefix(key, "["):
		return path + key
	}
	return path + "." + key
}

func decodeError(err error) *ConfigError {
	var typeErr *json.UnmarshalTypeError
	var optErr *ConfigError
	var synErr *json.SyntaxError
	switch {
	case errors.As(err, &optErr):
		c := *optErr // the caller adds the path; do not change the check's error
		return &c
	case errors.As(err, &typeErr):
		return &ConfigError{Key: typeErr.Field, Err: typeMismatch(typeErr)}
	case errors.As(err, &synErr), errors.Is(err, io.ErrUnexpectedEOF):
		return &ConfigError{Err: fmt.Errorf("invalid options: %w", err)}
	}
	// encoding/json reports unknown fields only as text.
	if msg, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		return &ConfigError{Key: strings.Trim(msg, `"`), Err: errors.New("unknown option")}
	}
	// Errors from UnmarshalJSON methods (Duration's) say what is wrong.
	return &ConfigError{Err: err}
}

// typeMismatch says what the option wants, in config words rather than Go
// types.
func typeMismatch(e *json.UnmarshalTypeError) error {
	t := e.Type
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	num, isNumber := strings.CutPrefix(e.Value, "number ")
	if !isNumber {
		return fmt.Errorf("expected %s, got %s", typeName(t), e.Value)
	}
	// A number that does not fit the field: 1.5 or -1 for a count, 300 for a uint8.
	switch {
	case isInteger(t) && strings.ContainsAny(num, ".eE"):
		return fmt.Errorf("expected a whole number, got %s", num)
	case isUnsigned(t) && strings.HasPrefix(num, "-"):
		return fmt.Errorf("expected a number >= 0, got %s", num)
	}
	return fmt.Errorf("number %s is out of range", num)
}

func typeName(t reflect.Type) string {
	switch {
	case t.Kind() == reflect.Slice, t.Kind() == reflect.Array:
		return "a list"
	case t.Kind() == reflect.Map, t.Kind() == reflect.Struct:
		return "a table"
	case isInteger(t), t.Kind() == reflect.Float32, t.Kind() == reflect.Float64:
		return "a number"
	case t.Kind() == reflect.Bool:
		return "true or false"
	case t.Kind() == reflect.String:
		return "a string"
	}
	return t.String()
}

func isInteger(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return true
	}
	return isUnsigned(t)
}

func isUnsigned(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return true
	}
	return false
}

// Duration is a time.Duration that decodes from a Go duration string
// ("30s", "1m30s") or a number of seconds.
type Duration time.Duration

// UnmarshalJSON accepts "30s" or 30.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		v, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("invalid duration %q (want a number with a unit, e.g. \"30s\")", s)
		}
		if v < 0 {
			return fmt.Errorf("invalid duration %q: negative", s)
		}
		*d = Duration(v)
		return nil
	}
	var n float64
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("invalid duration %s (want a string like \"30s\")", b)
	}
	if n < 0 {
		return fmt.Errorf("invalid duration %s: negative", b)
	}
	if n >= float64(math.MaxInt64)/float64(time.Second) {
		return fmt.Errorf("invalid duration %s: too long", b)
	}
	*d = Duration(n * float64(time.Second))
	return nil
}

// MarshalJSON writes the duration string.
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}

// D returns the time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }
