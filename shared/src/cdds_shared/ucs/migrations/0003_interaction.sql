-- Interactions (contact history). No foreign key to contact: UCS keeps history of deleted contacts.
CREATE TABLE interaction (
    id                         varchar(16) COLLATE "C" PRIMARY KEY,
    tenant_id                  integer     NOT NULL,
    contact_id                 varchar(16) COLLATE "C",
    entity_type_id             smallint    NOT NULL REFERENCES entity_type (id),
    media_type_id              varchar(64) NOT NULL,
    type_id                    varchar(64) NOT NULL,
    subtype_id                 varchar(64),
    status                     smallint    NOT NULL,
    owner_id                   integer,
    parent_id                  varchar(16) COLLATE "C",
    thread_id                  varchar(16) COLLATE "C",
    start_date                 timestamptz NOT NULL,
    end_date                   timestamptz,
    modified_date              timestamptz,
    subject                    text,
    the_text                   text,
    structured_text            text,
    structured_text_mime_type  varchar(128),
    the_comment                text,
    queue_name                 varchar(256),
    attached_data              jsonb
);

CREATE INDEX interaction_tenant_id_idx ON interaction (tenant_id, id);
CREATE INDEX interaction_tenant_media_start_idx ON interaction (tenant_id, media_type_id, start_date);
