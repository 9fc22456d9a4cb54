package sink

import (
	"math"
	"strconv"
	"strings"

	"github.com/parquet-go/jsonlite"
)

// commerceKeys are substrings one of which any promotable property name
// contains; properties without any skip JSON parsing.
var commerceKeys = []string{"product", "price", "currency", "quantity", "order", "revenue"}

// promoteCommerce fills the promoted e-commerce columns of Segment's
// e-commerce spec (product_id, price, currency, quantity, order_id,
// revenue) from the top level of the properties JSON. Values may arrive as
// JSON numbers or strings. Absent, null or unparsable values, and any
// properties that are not valid JSON, leave the columns NULL: the
// properties column always keeps the original.
func promoteCommerce(row *EventRow, properties string) {
	if len(properties) < 8 || !containsAny(properties, commerceKeys) {
		return
	}
	var (
		it                       jsonlite.Iterator
		productID, orderID, curr string
		productIDc, orderIDc     string
		price, revenue           *float64
		quantity                 *int64
	)
	it.Reset(properties)
	if !it.Next() || it.Kind() != jsonlite.Object {
		return
	}
	for it.Next() {
		if it.Depth() != 1 { // nested values, or an object/array value just opened
			continue
		}
		switch it.Key() {
		case "product_id":
			productID = scalarText(&it)
		case "productId":
			productIDc = scalarText(&it)
		case "order_id":
			orderID = scalarText(&it)
		case "orderId":
			orderIDc = scalarText(&it)
		case "currency":
			if it.Kind() == jsonlite.String {
				curr = scalarText(&it)
			}
		case "price":
			price = parseFloat(scalarText(&it))
		case "revenue":
			revenue = parseFloat(scalarText(&it))
		case "quantity":
			quantity = parseInt(scalarText(&it))
		}
	}
	if it.Err() != nil {
		return
	}
	if productID == "" {
		productID = productIDc
	}
	if orderID == "" {
		orderID = orderIDc
	}
	row.ProductID, row.OrderID, row.Currency = productID, orderID, curr
	row.Price, row.Revenue, row.Quantity = price, revenue, quantity
}

func containsAny(s string, subs []string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

// scalarText returns the text of a JSON string or number value ("" for
// anything else).
func scalarText(it *jsonlite.Iterator) string {
	switch it.Kind() {
	case jsonlite.String:
		s, err := it.String()
		if err != nil {
			return ""
		}
		return strings.TrimSpace(s)
	case jsonlite.Number:
		v, err := it.Value()
		if err != nil {
			return ""
		}
		return v.JSON()
	}
	return ""
}

func parseFloat(s string) *float64 {
	if s == "" {
		return nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return nil
	}
	return &f
}

func parseInt(s string) *int64 {
	if s == "" {
		return nil
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return &n
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f != math.Trunc(f) || math.Abs(f) > 1<<53 {
		return nil
	}
	n := int64(f)
	return &n
}
