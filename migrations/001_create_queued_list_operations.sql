-- The table of the specification, exactly, with its four indexes.
CREATE TABLE queued_list_operations (
  id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  operation_type VARCHAR(255) NOT NULL,
  tmdb_user_id INTEGER NOT NULL,
  tmdb_list_id INTEGER,
  operation_data JSONB NOT NULL,
  retry_count INTEGER DEFAULT 0,
  last_retry_at TIMESTAMP WITH TIME ZONE,
  status VARCHAR(255) DEFAULT 'pending',
  error_message TEXT,
  scheduled_for TIMESTAMP WITH TIME ZONE,
  inserted_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW(),
  updated_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW()
);
CREATE INDEX idx_queued_operations_status_inserted ON queued_list_operations (status, inserted_at);
CREATE INDEX idx_queued_operations_user_id ON queued_list_operations (tmdb_user_id);
CREATE INDEX idx_queued_operations_scheduled_for ON queued_list_operations (scheduled_for);
CREATE INDEX idx_queued_operations_type_list_status ON queued_list_operations (operation_type, tmdb_list_id, status);
