-- Contacts (customers). Ids are 16 characters like UCS's; COLLATE "C" makes key order byte order,
-- the same in PostgreSQL and Python, which partitioning by key range relies on.
CREATE TABLE contact (
    id            varchar(16) COLLATE "C" PRIMARY KEY,
    tenant_id     integer      NOT NULL,
    title         varchar(32),
    first_name    varchar(128),
    last_name     varchar(128),
    email_address varchar(256),
    phone_number  varchar(64),
    customer_id   varchar(64),
    company       varchar(256),
    language      varchar(16),
    time_zone     varchar(64),
    created_date  timestamptz  NOT NULL,
    modified_date timestamptz
);

CREATE INDEX contact_tenant_id_idx ON contact (tenant_id, id);
CREATE INDEX contact_tenant_created_idx ON contact (tenant_id, created_date);
