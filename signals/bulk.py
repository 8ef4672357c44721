"""Django signals that announce bulk writes.

``bulk_create`` and ``QuerySet.update()`` fire no ``post_save``; every bulk
write path in ``signals`` sends one of these inside the same transaction so
that listeners (the ledger) see every save.
"""

from django.dispatch import Signal as DjangoSignal

# Sent with ``pks`` and ``signal_ids``: the primary keys of the Signal rows just inserted
# (ascending) and, in the same order, their signal ids.
signals_bulk_created = DjangoSignal()
