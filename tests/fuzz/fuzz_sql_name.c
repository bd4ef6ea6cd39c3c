/* Fuzzes the splitting of "schema.table" names (se_sql_split_name).
 * Properties: a name is refused exactly when it is empty, has an empty part
 * or more than one dot; otherwise the parts joined by a dot give back the
 * name. */
#include "fuzz_util.h"
#include "pg_sql.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *name = fuzz_cstr(data, size);
  char *schema = NULL, *table = NULL;
  int rc = se_sql_split_name(name, &schema, &table);
  const char *dot = strchr(name, '.');
  int valid = dot == NULL ? name[0] != '\0' : (dot != name && dot[1] != '\0' && strchr(dot + 1, '.') == NULL);
  FUZZ_CHECK((rc == 0) == valid);
  if (rc == 0) {
    size_t n = (schema ? strlen(schema) + 1 : 0) + strlen(table);
    FUZZ_CHECK(n == strlen(name));
    if (schema) {
      FUZZ_CHECK(strncmp(name, schema, strlen(schema)) == 0 && name[strlen(schema)] == '.');
      FUZZ_CHECK(strcmp(name + strlen(schema) + 1, table) == 0);
    } else {
      FUZZ_CHECK(strcmp(name, table) == 0);
    }
  } else {
    FUZZ_CHECK(schema == NULL && table == NULL);
  }
  free(schema);
  free(table);
  free(name);
  return 0;
}
