"""Trace context and stack traces for application log lines: W3C ids, realistic traces."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from headwater.sinks.logs.formats.columns import Column, as_array

_HEX_PAIRS = np.frombuffer(b"".join(b"%02x" % i for i in range(256)), np.uint8).reshape(256, 2)


def _random_hex(rng: np.random.Generator, n: int, nbytes: int) -> pa.StringArray:
    raw = np.frombuffer(rng.bytes(n * nbytes), np.uint8).reshape(n, nbytes).copy()
    raw[~raw.any(axis=1), -1] = 1  # W3C trace context forbids the all-zero id
    text = _HEX_PAIRS[raw].reshape(-1)
    width = 2 * nbytes
    offsets = np.arange(0, (n + 1) * width, width, dtype=np.int32)
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(text))


def generate_trace_ids(rng: np.random.Generator, n: int) -> pa.StringArray:
    """`n` random W3C trace ids (32 lowercase hex chars, never all zero) from `rng`."""
    return _random_hex(rng, n, 16)


def generate_span_ids(rng: np.random.Generator, n: int) -> pa.StringArray:
    """`n` random W3C span ids (16 lowercase hex chars, never all zero) from `rng`."""
    return _random_hex(rng, n, 8)


STACK_TRACES: tuple[str, ...] = (
    """Traceback (most recent call last):
  File "/app/venv/lib/python3.11/site-packages/flask/app.py", line 1484, in full_dispatch_request
    rv = self.dispatch_request()
  File "/app/venv/lib/python3.11/site-packages/flask/app.py", line 1469, in dispatch_request
    return self.ensure_sync(self.view_functions[rule.endpoint])(**view_args)
  File "/app/shop/views/orders.py", line 88, in create_order
    total = sum(line["price"] * line["qty"] for line in payload["lines"])
  File "/app/shop/views/orders.py", line 88, in <genexpr>
    total = sum(line["price"] * line["qty"] for line in payload["lines"])
KeyError: 'price'""",
    """Traceback (most recent call last):
  File "/app/shop/services/payments.py", line 142, in capture
    response = self.session.post(url, json=body, timeout=self.timeout)
  File "/app/venv/lib/python3.11/site-packages/requests/sessions.py", line 637, in post
    return self.request("POST", url, data=data, json=json, **kwargs)
  File "/app/venv/lib/python3.11/site-packages/requests/adapters.py", line 532, in send
    raise ReadTimeout(e, request=request)
requests.exceptions.ReadTimeout: HTTPSConnectionPool(host='api.payments.example', port=443): Read timed out. (read timeout=5)""",
    """Traceback (most recent call last):
  File "/app/shop/db.py", line 51, in execute
    cur.execute(sql, params)
  File "/app/venv/lib/python3.11/site-packages/psycopg/cursor.py", line 732, in execute
    raise ex.with_traceback(None)
psycopg.errors.UniqueViolation: duplicate key value violates unique constraint "customers_email_key"
DETAIL:  Key (email)=(ana@example.com) already exists.""",
    """java.lang.NullPointerException: Cannot invoke "com.example.shop.Customer.getEmail()" because "customer" is null
\tat com.example.shop.service.NotificationService.sendReceipt(NotificationService.java:57)
\tat com.example.shop.service.OrderService.complete(OrderService.java:203)
\tat com.example.shop.web.OrderController.complete(OrderController.java:91)
\tat java.base/jdk.internal.reflect.DirectMethodHandleAccessor.invoke(DirectMethodHandleAccessor.java:103)
\tat org.springframework.web.method.support.InvocableHandlerMethod.doInvoke(InvocableHandlerMethod.java:255)
\tat org.springframework.web.servlet.FrameworkServlet.service(FrameworkServlet.java:885)
\tat java.base/java.lang.Thread.run(Thread.java:1583)""",
    """org.springframework.dao.DataAccessResourceFailureException: Unable to acquire JDBC Connection
\tat org.springframework.orm.jpa.vendor.HibernateJpaDialect.convertHibernateAccessException(HibernateJpaDialect.java:277)
\tat com.example.shop.repository.OrderRepository.findByCustomerId(OrderRepository.java)
\tat com.example.shop.service.OrderService.history(OrderService.java:118)
Caused by: java.sql.SQLTransientConnectionException: HikariPool-1 - Connection is not available, request timed out after 30000ms.
\tat com.zaxxer.hikari.pool.HikariPool.createTimeoutException(HikariPool.java:696)
\tat com.zaxxer.hikari.pool.HikariPool.getConnection(HikariPool.java:181)
\t... 42 more""",
    """java.lang.IllegalStateException: Order 4711 cannot move from SHIPPED to CANCELLED
\tat com.example.shop.domain.Order.transition(Order.java:142)
\tat com.example.shop.service.OrderService.cancel(OrderService.java:77)
\tat com.example.shop.web.OrderController.cancel(OrderController.java:64)
\tat org.apache.catalina.core.ApplicationFilterChain.doFilter(ApplicationFilterChain.java:166)
\tat org.apache.tomcat.util.threads.ThreadPoolExecutor$Worker.run(ThreadPoolExecutor.java:659)
\tat java.base/java.lang.Thread.run(Thread.java:1583)""",
)
"""Realistic Python and Java stack traces, multi-line, picked by index."""


def stack_traces(index: Column | np.ndarray | Sequence[int]) -> pa.DictionaryArray:
    """The traces at `index` (taken modulo the pool size; null index → null trace).

    Dictionary-encoded with the whole pool as dictionary, so formatters escape each
    trace once rather than once per row.
    """
    arr = pc.cast(as_array(index), pa.int64())
    mask = np.asarray(arr.is_null())
    values = np.asarray(pc.fill_null(arr, 0)) % len(STACK_TRACES)
    indices = pa.array(values.astype(np.int32), mask=mask if mask.any() else None)
    return pa.DictionaryArray.from_arrays(indices, pa.array(STACK_TRACES))
