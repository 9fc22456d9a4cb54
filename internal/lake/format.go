package lake

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/big"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/duckdb/duckdb-go/v2"
)

// Formats lists the output formats of Write.
var Formats = []string{"table", "csv", "json"}

// CheckFormat reports an unknown output format.
func CheckFormat(format string) error {
	for _, f := range Formats {
		if f == format {
			return nil
		}
	}
	return fmt.Errorf("unknown format %q (want %s)", format, strings.Join(Formats, ", "))
}

// Write runs query and writes its result to w: "table" aligns the columns
// under a header and ends with the row count, "csv" is RFC 4180 with a
// header line (NULL as an empty field), "json" an array of one object per
// row (keys in column order, NULL as null).
func (l *Lake) Write(ctx context.Context, w io.Writer, format, query string) error {
	if err := CheckFormat(format); err != nil {
		return err
	}
	bw := bufio.NewWriter(w)
	var err error
	switch format {
	case "table":
		err = l.writeTable(ctx, bw, query)
	case "csv":
		err = l.writeCSV(ctx, bw, query)
	case "json":
		err = l.writeJSON(ctx, bw, query)
	}
	if ferr := bw.Flush(); err == nil {
		err = ferr
	}
	return err
}

func (l *Lake) writeTable(ctx context.Context, w io.Writer, query string) error {
	var cols []Column
	var cells [][]string
	err := l.Query(ctx, query, func(c []Column) error {
		cols = c
		return nil
	}, func(vals []any) error {
		row := make([]string, len(vals))
		for i, v := range vals {
			if v == nil {
				row[i] = "NULL"
			} else {
				row[i] = oneLine(text(v, cols[i].Type))
			}
		}
		cells = append(cells, row)
		return nil
	})
	if err != nil {
		return err
	}
	width := make([]int, len(cols))
	numeric := make([]bool, len(cols))
	for i, c := range cols {
		width[i] = utf8.RuneCountInString(c.Name)
		numeric[i] = isNumeric(c.Type)
	}
	for _, row := range cells {
		for i, s := range row {
			width[i] = max(width[i], utf8.RuneCountInString(s))
		}
	}
	line := func(vals []string, rightAlign bool) {
		var b strings.Builder
		for i, s := range vals {
			if i > 0 {
				b.WriteString("  ")
			}
			pad := strings.Repeat(" ", width[i]-utf8.RuneCountInString(s))
			if rightAlign && numeric[i] {
				b.WriteString(pad + s)
			} else if i < len(vals)-1 {
				b.WriteString(s + pad)
			} else {
				b.WriteString(s)
			}
		}
		fmt.Fprintln(w, b.String())
	}
	names := make([]string, len(cols))
	rules := make([]string, len(cols))
	for i, c := range cols {
		names[i] = c.Name
		rules[i] = strings.Repeat("-", width[i])
	}
	line(names, true)
	line(rules, false)
	for _, row := range cells {
		line(row, true)
	}
	if len(cells) == 1 {
		fmt.Fprintln(w, "(1 row)")
	} else {
		fmt.Fprintf(w, "(%d rows)\n", len(cells))
	}
	return nil
}

func (l *Lake) writeCSV(ctx context.Context, w io.Writer, query string) error {
	cw := csv.NewWriter(w)
	var cols []Column
	rec := []string{}
	err := l.Query(ctx, query, func(c []Column) error {
		cols = c
		for _, col := range c {
			rec = append(rec, col.Name)
		}
		return cw.Write(rec)
	}, func(vals []any) error {
		for i, v := range vals {
			rec[i] = ""
			if v != nil {
				rec[i] = text(v, cols[i].Type)
			}
		}
		return cw.Write(rec)
	})
	cw.Flush()
	if err == nil {
		err = cw.Error()
	}
	return err
}

func (l *Lake) writeJSON(ctx context.Context, w io.Writer, query string) error {
	var cols []Column
	var keys [][]byte
	n := 0
	err := l.Query(ctx, query, func(c []Column) error {
		cols = c
		for _, col := range c {
			k, _ := json.Marshal(col.Name)
			keys = append(keys, k)
		}
		_, err := io.WriteString(w, "[")
		return err
	}, func(vals []any) error {
		var b []byte
		if n > 0 {
			b = append(b, ',')
		}
		b = append(b, "\n{"...)
		for i, v := range vals {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, keys[i]...)
			b = append(b, ':')
			b = appendJSON(b, v, cols[i].Type)
		}
		b = append(b, '}')
		n++
		_, err := w.Write(b)
		return err
	})
	if err != nil {
		return err
	}
	if n > 0 {
		_, err = io.WriteString(w, "\n]\n")
	} else {
		_, err = io.WriteString(w, "]\n")
	}
	return err
}

func isNumeric(typ string) bool {
	switch {
	case strings.HasPrefix(typ, "DECIMAL"):
		return true
	}
	switch typ {
	case "TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT", "UHUGEINT",
		"FLOAT", "DOUBLE", "BIGNUM":
		return true
	}
	return false
}

// text renders a non-NULL value as DuckDB's CLI would, near enough.
func text(v any, typ string) string {
	switch x := v.(type) {
	case string:
		return x
	case bool:
		return strconv.FormatBool(x)
	case int8, int16, int32, int64, uint8, uint16, uint32, uint64, int, uint:
		return fmt.Sprint(x)
	case float64:
		return formatFloat(x, 64)
	case float32:
		return formatFloat(float64(x), 32)
	case time.Time:
		return formatTime(x, typ)
	case []byte:
		if typ == "UUID" && len(x) == 16 {
			var u duckdb.UUID
			copy(u[:], x)
			return u.String()
		}
		if utf8.Valid(x) {
			return string(x)
		}
		return `\x` + hex.EncodeToString(x)
	case duckdb.Decimal:
		return formatDecimal(x)
	case *big.Int:
		return x.String()
	case duckdb.Interval:
		return fmt.Sprintf("%d months %d days %d µs", x.Months, x.Days, x.Micros)
	}
	if b, err := json.Marshal(jsonable(v)); err == nil {
		return string(b)
	}
	return fmt.Sprint(v)
}

func formatFloat(f float64, bits int) string {
	switch {
	case math.IsNaN(f):
		return "nan"
	case math.IsInf(f, 1):
		return "inf"
	case math.IsInf(f, -1):
		return "-inf"
	case f != 0 && (math.Abs(f) >= 1e21 || math.Abs(f) < 1e-6):
		return strconv.FormatFloat(f, 'g', -1, bits)
	}
	return strconv.FormatFloat(f, 'f', -1, bits)
}

// formatDecimal keeps the type's scale: DECIMAL(10,2) 1.5 is "1.50".
func formatDecimal(d duckdb.Decimal) string {
	if d.Value == nil {
		return "0"
	}
	digits := new(big.Int).Abs(d.Value).String()
	sign := ""
	if d.Value.Sign() < 0 {
		sign = "-"
	}
	scale := int(d.Scale)
	if scale == 0 {
		return sign + digits
	}
	if len(digits) <= scale {
		digits = strings.Repeat("0", scale-len(digits)+1) + digits
	}
	return sign + digits[:len(digits)-scale] + "." + digits[len(digits)-scale:]
}

func formatTime(t time.Time, typ string) string {
	switch typ {
	case "DATE":
		return t.Format(time.DateOnly)
	case "TIME":
		return t.Format("15:04:05.999999")
	case "TIMESTAMP WITH TIME ZONE", "TIMESTAMPTZ":
		return t.UTC().Format("2006-01-02 15:04:05.999999") + "+00"
	}
	return t.UTC().Format("2006-01-02 15:04:05.999999999")
}

// appendJSON appends a value as JSON: numbers as numbers, times and
// UUIDs as strings, other BLOBs in base64, nested values as JSON.
func appendJSON(b []byte, v any, typ string) []byte {
	switch x := v.(type) {
	case nil:
		return append(b, "null"...)
	case bool:
		return strconv.AppendBool(b, x)
	case int8, int16, int32, int64, uint8, uint16, uint32, uint64, int, uint:
		return fmt.Append(b, x)
	case float64, float32:
		f := toFloat(x)
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return strconv.AppendQuote(b, text(v, typ))
		}
		return append(b, text(v, typ)...)
	case duckdb.Decimal, *big.Int:
		return append(b, text(v, typ)...)
	case []byte:
		if typ == "UUID" || typ == "VARCHAR" {
			break
		}
		return strconv.AppendQuote(b, base64.StdEncoding.EncodeToString(x))
	case string, time.Time, duckdb.Interval:
	default:
		if enc, err := json.Marshal(jsonable(v)); err == nil {
			return append(b, enc...)
		}
	}
	enc, _ := json.Marshal(text(v, typ))
	return append(b, enc...)
}

func toFloat(v any) float64 {
	if f, ok := v.(float32); ok {
		return float64(f)
	}
	return v.(float64)
}

// jsonable turns DuckDB's nested values (lists, structs, maps with any
// keys) into values encoding/json accepts.
func jsonable(v any) any {
	switch x := v.(type) {
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = jsonable(e)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = jsonable(e)
		}
		return out
	case duckdb.Map:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[fmt.Sprint(jsonable(k))] = jsonable(e)
		}
		return out
	case duckdb.Union:
		return jsonable(x.Value)
	case time.Time:
		return x.UTC().Format(time.RFC3339Nano)
	case duckdb.Decimal:
		return json.Number(formatDecimal(x))
	case *big.Int:
		return json.Number(x.String())
	case []byte:
		if utf8.Valid(x) {
			return string(x)
		}
		return base64.StdEncoding.EncodeToString(x)
	}
	return v
}

// oneLine keeps a table cell on one line.
func oneLine(s string) string {
	if !strings.ContainsAny(s, "\n\r\t") {
		return s
	}
	return strings.NewReplacer("\n", `\n`, "\r", `\r`, "\t", `\t`).Replace(s)
}
