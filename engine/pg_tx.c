/* Transactions on a connection: their state, BEGIN, COMMIT, ROLLBACK. The
 * one place that decides whether a COMMIT committed. */
#include <string.h>

#include "pg_conn_impl.h"

int se_pg_in_transaction(const se_pg_conn *c) {
  PGTransactionStatusType tx = PQtransactionStatus(c->pg);
  return tx == PQTRANS_INTRANS || tx == PQTRANS_INERROR;
}

se_pg_tx_state se_pg_tx(const se_pg_conn *c) {
  if (c->lost_in_tx || PQstatus(c->pg) != CONNECTION_OK) return SE_PG_TX_LOST;
  switch (PQtransactionStatus(c->pg)) {
  case PQTRANS_IDLE:
    return SE_PG_TX_IDLE;
  case PQTRANS_INERROR:
    return SE_PG_TX_ABORTED;
  case PQTRANS_UNKNOWN:
    return SE_PG_TX_LOST;
  default:
    return SE_PG_TX_OPEN;
  }
}

int se_pg_begin(se_pg_conn *c, se_pg_error *e) {
  return se_pg_command(c, "BEGIN", e);
}

int se_pg_commit(se_pg_conn *c, se_pg_error *e) {
  if (c->lost_in_tx) {
    c->lost_in_tx = 0;
    se_pg_error_set(e, c, "08006",
                    "cannot commit: the connection was lost and the server rolled the transaction back");
    return -1;
  }
  PGresult *res = se_pg_run(c, "COMMIT", 0, NULL, e);
  if (res == NULL) return -1;
  int rolled_back = strcmp(PQcmdStatus(res), "ROLLBACK") == 0;
  PQclear(res);
  if (!rolled_back) return 0;
  se_pg_error_set(e, c, "25P02", "the transaction was rolled back, not committed: a statement in it failed");
  return -1;
}

int se_pg_rollback(se_pg_conn *c, se_pg_error *e) {
  if (c->lost_in_tx || PQstatus(c->pg) != CONNECTION_OK) {
    c->lost_in_tx = 0;
    return 0;
  }
  return se_pg_command(c, "ROLLBACK", e);
}
