package replay

import (
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"
)

// Row is one REES46 event.
type Row struct {
	// Line is the row's 1-based line in the file; the header is line 1.
	Line         int
	EventTime    time.Time // UTC
	EventType    string    // view, cart, remove_from_cart or purchase
	ProductID    string
	CategoryID   string // kept as text: the ids exceed 2^53
	CategoryCode string // may be empty
	Brand        string // may be empty
	Price        float64
	UserID       string
	UserSession  string
	// MessageID is derived from Line and the row's fields: the same row of
	// the same file always gets the same id, and identical rows on
	// different lines (the sample has three such pairs) get different ids.
	MessageID string
}

// columns is the REES46 header, in order.
var columns = []string{"event_time", "event_type", "product_id", "category_id", "category_code", "brand", "price", "user_id", "user_session"}

// eventNames maps a REES46 event_type to its Segment e-commerce event.
var eventNames = map[string]string{
	"view":             "Product Viewed",
	"cart":             "Product Added",
	"remove_from_cart": "Product Removed",
	"purchase":         "Order Completed",
}

// EventName returns the Segment event name of a REES46 event type.
func EventName(eventType string) (string, bool) {
	n, ok := eventNames[eventType]
	return n, ok
}

const timeLayout = "2006-01-02 15:04:05 MST"

// ReadCSV reads a REES46 CSV file and returns its rows in file order. Any
// malformed row fails the whole read with an error naming its line.
func ReadCSV(path string) ([]Row, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("opening REES46 file: %w", err)
	}
	defer f.Close()
	rows, err := parseCSV(f)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	return rows, nil
}

func parseCSV(r io.Reader) ([]Row, error) {
	cr := csv.NewReader(r)
	cr.ReuseRecord = true
	header, err := cr.Read()
	if err == io.EOF {
		return nil, errors.New("empty file, want a header line")
	}
	if err != nil {
		return nil, fmt.Errorf("header: %w", err)
	}
	if strings.Join(header, ",") != strings.Join(columns, ",") {
		return nil, fmt.Errorf("header is %q, want %q", strings.Join(header, ","), strings.Join(columns, ","))
	}
	var rows []Row
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			return rows, nil
		}
		if err != nil {
			return nil, err // csv errors name the line
		}
		line, _ := cr.FieldPos(0)
		row, err := parseRow(line, rec)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		rows = append(rows, row)
	}
}

func parseRow(line int, rec []string) (Row, error) {
	t, err := time.Parse(timeLayout, rec[0])
	if err != nil || !strings.HasSuffix(rec[0], " UTC") {
		return Row{}, fmt.Errorf("event_time %q is not like \"2019-10-01 00:00:00 UTC\"", rec[0])
	}
	if _, ok := eventNames[rec[1]]; !ok {
		return Row{}, fmt.Errorf("event_type %q is not view, cart, remove_from_cart or purchase", rec[1])
	}
	price, err := strconv.ParseFloat(rec[6], 64)
	if err != nil || price < 0 {
		return Row{}, fmt.Errorf("price %q is not a non-negative number", rec[6])
	}
	for _, c := range []struct{ name, v string }{{"product_id", rec[2]}, {"user_id", rec[7]}, {"user_session", rec[8]}} {
		if c.v == "" {
			return Row{}, fmt.Errorf("%s is empty", c.name)
		}
	}
	return Row{
		Line:         line,
		EventTime:    t.UTC(),
		EventType:    rec[1],
		ProductID:    rec[2],
		CategoryID:   rec[3],
		CategoryCode: rec[4],
		Brand:        rec[5],
		Price:        price,
		UserID:       rec[7],
		UserSession:  rec[8],
		MessageID:    messageID(line, rec),
	}, nil
}

// messageID hashes the line number and the fields, separated by a byte
// that cannot occur in them.
func messageID(line int, rec []string) string {
	h := sha256.New()
	fmt.Fprintf(h, "%d", line)
	for _, f := range rec {
		h.Write([]byte{0x1f})
		h.Write([]byte(f))
	}
	return "rees46-" + hex.EncodeToString(h.Sum(nil)[:16])
}

// OrderID is the deterministic order id of a purchase row.
func (r Row) OrderID() string {
	return "rees46-order-" + strings.TrimPrefix(r.MessageID, "rees46-")[:16]
}
