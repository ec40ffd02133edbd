"""XML documents of rows, plus the XSD that types them.

    <rows xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
      <row><id>1</id><name>Ann</name><email xsi:nil="true"/></row>
    </rows>

Rows are built with pyarrow.compute like the other text formats. With `style:
elements` each column is a child element and a null is an empty element with
xsi:nil="true" (declared nillable in the XSD); with `style: attributes` each column is an
attribute of the row and a null is an absent attribute. An empty string is an empty
element (an empty attribute), so the file tells it from NULL; pandas.read_xml does not and
reads both as NaN, while `headwater verify` keeps them apart. Values use the XSD lexical
forms (xs:dateTime, xs:double with INF/NaN, …) so the file validates against ``xsd()``.

```yaml
sinks:
  feed: {kind: files, entities: [orders], format: xml, path: xml, options: {root: orders, row: order, style: attributes}}
```
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, BinaryIO, ClassVar, Literal
from xml.sax.saxutils import quoteattr

import pyarrow as pa
import pyarrow.compute as pc
from pydantic import field_validator

from headwater.sinks._text import (
    STRING,
    data_buffer,
    decode,
    is_textual,
    join_rows,
    to_text,
    xml_escape,
)
from headwater.sinks.files.formats._base import FormatOptions, FormatWriter, chunks

XSI = "http://www.w3.org/2001/XMLSchema-instance"
# XML names, minus the colon (namespaces are not ours to invent).
_NAME = re.compile(r"^[^\W\d][\w.\-]*$")


def _check_name(value: str, what: str) -> str:
    if not _NAME.match(value) or value.lower().startswith("xml"):
        raise ValueError(f"{what} {value!r} is not a valid XML element name")
    return value


class XmlOptions(FormatOptions):
    """root/row: element names; style: columns as child `elements` or as `attributes`.
    schema_location: file name of the XSD to reference from the root element, if any."""

    root: str = "rows"
    row: str = "row"
    style: Literal["elements", "attributes"] = "elements"
    indent: bool = True
    schema_location: str | None = None

    @field_validator("root", "row")
    @classmethod
    def _names(cls, v: str) -> str:
        return _check_name(v, "element name")


def xsd_type(t: pa.DataType) -> str:
    """The XSD built-in type of an Arrow type's values as this writer prints them."""
    if pa.types.is_dictionary(t):
        return xsd_type(t.value_type)
    if pa.types.is_boolean(t):
        return "xs:boolean"
    if pa.types.is_unsigned_integer(t) and t.bit_width == 64:
        return "xs:unsignedLong"
    if pa.types.is_integer(t):
        return "xs:long"
    if pa.types.is_floating(t):
        return "xs:double"
    if pa.types.is_decimal(t):
        return "xs:decimal"
    if pa.types.is_timestamp(t):
        return "xs:dateTime"
    if pa.types.is_date(t):
        return "xs:date"
    if pa.types.is_time(t):
        return "xs:time"
    if (
        pa.types.is_binary(t)
        or pa.types.is_large_binary(t)
        or pa.types.is_binary_view(t)
        or pa.types.is_fixed_size_binary(t)
    ):
        return "xs:base64Binary"
    return "xs:string"  # strings, and nested values written as JSON text


class XmlWriter(FormatWriter):
    """Rows as XML elements; ``xsd()`` returns the matching XML Schema."""

    extension: ClassVar[str] = "xml"
    options_model: ClassVar[type[FormatOptions]] = XmlOptions

    def __init__(
        self,
        stream: BinaryIO,
        schema: pa.Schema,
        options: XmlOptions | Mapping[str, Any] | None = None,
        *,
        sink: str = "files",
    ):
        super().__init__(stream, schema, options, sink=sink)
        o: XmlOptions = self.options
        for name in schema.names:
            try:
                _check_name(name, "column name")
            except ValueError as exc:
                raise self.error(f"{exc}; rename the field for XML output") from None
        if o.style == "attributes" and len(set(schema.names)) != len(schema.names):
            raise self.error("attribute style needs distinct column names")
        self._started = False
        nl = "\n" if o.indent else ""
        pad = "  " if o.indent else ""
        if o.style == "elements":
            self._open_row = f"{pad}<{o.row}>"
            self._close_row = f"</{o.row}>{nl}"
        else:
            self._open_row = f"{pad}<{o.row}"
            self._close_row = f"/>{nl}"

    def xsd(self) -> str:
        """An XML Schema the file validates against (nullable columns are nillable/optional)."""
        o: XmlOptions = self.options
        fields = []
        for field in self.schema:
            typ = xsd_type(field.type)
            if o.style == "elements":
                nil = ' nillable="true"' if field.nullable else ""
                fields.append(f'            <xs:element name="{field.name}" type="{typ}"{nil}/>')
            else:
                use = "optional" if field.nullable else "required"
                fields.append(
                    f'          <xs:attribute name="{field.name}" type="{typ}" use="{use}"/>'
                )
        if o.style == "elements":
            body = "\n".join(
                [
                    "          <xs:sequence>",
                    *fields,
                    "          </xs:sequence>",
                ]
            )
        else:
            body = "\n".join(fields)
        return "\n".join(
            [
                '<?xml version="1.0" encoding="UTF-8"?>',
                '<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" '
                'elementFormDefault="qualified">',
                f'  <xs:element name="{o.root}">',
                "    <xs:complexType>",
                "      <xs:sequence>",
                f'        <xs:element name="{o.row}" minOccurs="0" maxOccurs="unbounded">',
                "          <xs:complexType>",
                body,
                "          </xs:complexType>",
                "        </xs:element>",
                "      </xs:sequence>",
                "    </xs:complexType>",
                "  </xs:element>",
                "</xs:schema>",
                "",
            ]
        )

    def sidecars(self) -> dict[str, str]:
        return {".xsd": self.xsd()}

    def _start(self) -> None:
        if self._started:
            return
        self._started = True
        o: XmlOptions = self.options
        attrs = f' xmlns:xsi="{XSI}"'
        if o.schema_location:
            attrs += f" xsi:noNamespaceSchemaLocation={quoteattr(o.schema_location)}"
        nl = "\n" if o.indent else ""
        head = f'<?xml version="1.0" encoding="UTF-8"?>\n<{o.root}{attrs}>{nl}'
        self.stream.write(head.encode("utf-8"))

    def _value_text(self, col: pa.Array) -> pa.Array:
        """Values in their XSD lexical form, escaped; nulls stay null."""
        col = decode(col)
        text = to_text(col)
        t = col.type
        if pa.types.is_floating(t):
            if not pc.all(pc.fill_null(pc.is_finite(col), True)).as_py():
                text = pc.replace_substring(text, "inf", "INF")
                text = pc.replace_substring(text, "nan", "NaN")
        elif is_textual(t):
            text = xml_escape(text, attribute=self.options.style == "attributes")
        return text

    def _write(self, batch: pa.Table | pa.RecordBatch) -> None:
        self._start()
        elements = self.options.style == "elements"
        for chunk in chunks(batch):
            parts: list[pa.Array | str] = [self._open_row]
            for name, col in zip(chunk.schema.names, chunk.columns, strict=True):
                text = self._value_text(col)
                if elements:
                    cell = pc.binary_join_element_wise(f"<{name}>", text, f"</{name}>", "")
                    parts.append(pc.fill_null(cell, f'<{name} xsi:nil="true"/>'))
                else:
                    cell = pc.binary_join_element_wise(f' {name}="', text, '"', "")
                    parts.append(pc.fill_null(cell, ""))
            parts.append(self._close_row)
            if len(parts) == 2:
                parts.insert(1, pa.array([""] * chunk.num_rows, STRING))
            self.stream.write(data_buffer(join_rows(parts)))

    def _close(self) -> None:
        self._start()
        self.stream.write(f"</{self.options.root}>\n".encode())
