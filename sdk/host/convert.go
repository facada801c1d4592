package host

import (
	"errors"
	"fmt"
	"time"

	"github.com/mailmon/mailmon/sdk"
	"github.com/mailmon/mailmon/sdk/internal/pluginrpc"
)

// resultFromProto converts a wire result to the SDK type.
func resultFromProto(p *pluginrpc.Result) (*sdk.Result, error) {
	if p == nil {
		return nil, errors.New("empty result")
	}
	r := &sdk.Result{Status: sdk.Status(p.Status), Reason: p.Reason, Message: p.Message}
	if !r.Status.Valid() {
		return nil, fmt.Errorf("invalid status %d", p.Status)
	}
	for _, pm := range p.Metrics {
		m := sdk.Metric{Name: pm.Name, Tags: pm.Tags, Fields: make(map[string]any, len(pm.Fields)), Time: time.Unix(0, pm.TimeUnixNano)}
		if m.Tags == nil {
			m.Tags = map[string]string{}
		}
		for k, v := range pm.Fields {
			switch x := v.GetKind().(type) {
			case *pluginrpc.Value_Double:
				m.Fields[k] = x.Double
			case *pluginrpc.Value_Int:
				m.Fields[k] = x.Int
			case *pluginrpc.Value_Uint:
				m.Fields[k] = x.Uint
			case *pluginrpc.Value_String_:
				m.Fields[k] = x.String_
			case *pluginrpc.Value_Bool:
				m.Fields[k] = x.Bool
			default:
				return nil, fmt.Errorf("metric %s field %s: empty value", pm.Name, k)
			}
		}
		r.Metrics = append(r.Metrics, m)
	}
	return r, nil
}
