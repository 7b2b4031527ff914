package io.fleetplane.testkit.infra;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class TestPostgresTest {

  @Test
  void schemaNamesCarryATimestampAndARandomSuffix() {
    String a = TestPostgres.newSchemaName();
    String b = TestPostgres.newSchemaName();
    assertTrue(a.matches("fp_\\d{14}_[a-z0-9]{6}"), a);
    assertNotEquals(a, b);
    assertEquals(a, TestPostgres.checkedSchemaName(a));
  }

  @Test
  void currentSchemaIsAddedAsAQueryParameter() {
    assertEquals("jdbc:postgresql://127.0.0.1:5432/test?currentSchema=s1",
        TestPostgres.withCurrentSchema("jdbc:postgresql://127.0.0.1:5432/test", "s1"));
    assertEquals("jdbc:postgresql://h/db?sslmode=disable&currentSchema=s1",
        TestPostgres.withCurrentSchema("jdbc:postgresql://h/db?sslmode=disable", "s1"));
  }

  @Test
  void refusesSchemaNamesThatWouldNeedQuoting() {
    assertThrows(IllegalArgumentException.class, () -> TestPostgres.checkedSchemaName("x; DROP TABLE y"));
    assertThrows(IllegalArgumentException.class, () -> TestPostgres.checkedSchemaName("Upper"));
  }
}
